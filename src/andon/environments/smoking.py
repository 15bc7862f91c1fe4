"""Smoke tests: andon.yaml's ``smoke`` checks run against a new environment before it is
called ready — HTTP requests to its URL, and commands from its release directory that
learn the URL as ``ANDON_URL`` (and the headers to send as ``ANDON_HEADERS``). The first
failure fails the step; every check is written to the environment's smoke log.

The lifecycle calls :func:`run_smoke_tests` once the instances are ready.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx

from andon.environments.commands import MaskedLog, require_success, run_command
from andon.environments.steps import StepError
from andon.spec import HttpCheckSpec, SmokeSpec

_BODY_SHOWN = 200


async def run_smoke_tests(
    smoke: SmokeSpec,
    *,
    url: str,
    cwd: Path,
    variables: Mapping[str, str],
    log: MaskedLog,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Run every check against ``url``; what passed, or StepError for the first that did
    not.

    ``headers`` go with every HTTP check, and to commands as ``ANDON_HEADERS`` (one
    ``Name: value`` per line): a rollout routes a new version's smoke tests to it alone
    with a header."""
    extra = dict(headers or {})
    async with httpx.AsyncClient(base_url=url, trust_env=False, headers=extra) as client:
        for check in smoke.http:
            await _http_check(client, check, log)
    for command in smoke.commands:
        name = command.name or command.command
        outcome = await run_command(
            command.command,
            cwd=cwd,
            variables={
                **variables,
                "ANDON_URL": url,
                "ANDON_HEADERS": "\n".join(f"{name}: {value}" for name, value in extra.items()),
            },
            log=log,
            timeout=command.timeout.total_seconds(),
        )
        require_success(outcome, f"smoke test '{name}'", log)
        log.note(f"ok: {name}")
    total = len(smoke.http) + len(smoke.commands)
    if total == 0:
        return "andon.yaml declares no smoke tests"
    return f"{total} smoke test{'s' if total != 1 else ''} passed"


async def _http_check(client: httpx.AsyncClient, check: HttpCheckSpec, log: MaskedLog) -> None:
    name = check.name or f"{check.method.value} {check.path}"
    request = f"{check.method.value} {check.path}"
    try:
        response = await client.request(
            check.method.value,
            check.path,
            headers=check.headers,
            json=check.body,
            timeout=check.timeout.total_seconds(),
        )
    except httpx.HTTPError as exc:
        reason = type(exc).__name__ if not str(exc) else str(exc)
        log.note(f"FAIL {name}: {request}: {reason}")
        raise StepError(f"smoke test '{name}' failed: {request}: {reason}.") from exc
    problem = None
    if response.status_code != check.status:
        problem = f"{request} answered {response.status_code}, expected {check.status}"
    elif check.contains is not None and check.contains not in response.text:
        problem = f"{request} answered without {check.contains!r}"
    if problem is not None:
        body = log.mask(response.text[:_BODY_SHOWN].strip().replace("\n", " "))
        log.note(f"FAIL {name}: {problem}: {body}")
        raise StepError(f"smoke test '{name}' failed: {problem}: {body}")
    log.note(f"ok: {name}: {request} answered {response.status_code}")
