"""The in-run anchor: what ``andon env up`` does, done directly with no Andon in the way.

The same artifact archive (from Andon's store) is unpacked with :mod:`tarfile`, the shop's
config template rendered with Jinja2 from the values andon.yaml declares, its migration
and seed commands run with bash as andon.yaml declares them, its web process started with
bash on a free port, its health URL polled until it answers 200, and its smoke tests run
against it directly (no router) — timed end to end; then the shop is killed. Each step is
timed too, to be read beside the steps the server reports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jinja2
from ruamel.yaml import YAML
from stack import BenchmarkError, free_port

HEALTH_POLL_S = 0.01
"""How often the anchor asks the shop for its health: as often as is useful."""
HEALTH_TIMEOUT_S = 60.0
COMMAND_TIMEOUT_S = 120.0
# What Andon's commands get from the server's own environment (environments/commands.py).
_INHERITED = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")


@dataclass(frozen=True)
class DirectRun:
    wall: float
    """Seconds from the start of unpacking to the last smoke test passing."""
    steps: dict[str, float]
    """``unpack``, ``config``, ``migrate``, ``seed``, ``healthy`` (start to the first 200
    on the health URL), ``smoke``."""


def read_spec(path: Path) -> dict[str, Any]:
    """andon.yaml as plain data (read with ruamel.yaml, not with Andon's loader)."""
    data: dict[str, Any] = YAML(typ="safe").load(path.read_text())
    return data


def run_directly(archive: Path, spec: dict[str, Any], workdir: Path, *, env: str) -> DirectRun:
    """Bring the shop of ``archive`` up in ``workdir`` as andon.yaml ``spec`` declares it,
    check it with its smoke tests, and kill it."""
    release = workdir / "release"
    data = workdir / "data"
    database = data / f"{spec['service']['name']}.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    variables = {name: os.environ[name] for name in _INHERITED if name in os.environ} | {
        "ANDON_ENV": env,
        "DATABASE_URL": f"sqlite:///{database}",
    }
    steps: dict[str, float] = {}
    shop: subprocess.Popen[bytes] | None = None

    def timed(step: str, action: Callable[[], None]) -> None:
        started = time.perf_counter()
        action()
        steps[step] = time.perf_counter() - started

    def render() -> None:
        data.mkdir(parents=True)
        values = {
            **(spec.get("config", {}).get("values") or {}),
            **((spec["environments"].get(env) or {}).get("values") or {}),
            "env": env,
            "service": spec["service"]["name"],
            "database_url": f"sqlite:///{database}",
            "database_path": str(database),
        }
        for template in spec.get("config", {}).get("templates") or []:
            source = (release / template["source"]).read_text()
            rendered = jinja2.Template(source, undefined=jinja2.StrictUndefined).render(values)
            (release / template["destination"]).write_text(rendered)

    def start_and_await_health() -> None:
        nonlocal shop
        web = spec["processes"]["web"]
        log = (workdir / "web.log").open("wb")
        shop = subprocess.Popen(
            ["bash", "-c", web["command"]],
            cwd=release,
            env=variables | {web.get("port_env") or "PORT": str(port), "PORT": str(port)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        await_status(f"{url}{web.get('health') or '/'}", shop, workdir / "web.log")

    def smoke() -> None:
        checks = spec.get("smoke") or {}
        with httpx.Client(base_url=url, trust_env=False, timeout=10) as client:
            for check in checks.get("http") or []:
                response = client.request(check.get("method", "GET"), check["path"])
                if response.status_code != check.get("status", 200) or (
                    check.get("contains") is not None and check["contains"] not in response.text
                ):
                    raise BenchmarkError(f"direct smoke test {check.get('name')} failed")
        for command in checks.get("commands") or []:
            run(command["command"], release, variables | {"ANDON_URL": url})

    started = time.perf_counter()
    try:
        timed("unpack", lambda: unpack(archive, release))
        timed("config", render)
        database_spec = spec.get("database") or {}
        if database_spec.get("migrations"):
            timed(
                "migrate", lambda: run(database_spec["migrations"]["command"], release, variables)
            )
        if database_spec.get("seed"):
            timed("seed", lambda: run(database_spec["seed"]["command"], release, variables))
        timed("healthy", start_and_await_health)
        timed("smoke", smoke)
        wall = time.perf_counter() - started
    finally:
        if shop is not None:
            stop(shop)
    return DirectRun(wall, steps)


def unpack(archive: Path, release: Path) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(release, filter="data")


def run(command: str, cwd: Path, env: dict[str, str]) -> None:
    """``bash -c command`` in its own session, as Andon runs andon.yaml's commands."""
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        start_new_session=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-1000:]
        raise BenchmarkError(f"`{command}` exited {result.returncode}: {output}")


def await_status(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``url`` until it answers 200; BenchmarkError if ``process`` exits first."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    with httpx.Client(trust_env=False, timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BenchmarkError(f"the shop exited {process.returncode}: {log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).status_code == 200:
                    return
            time.sleep(HEALTH_POLL_S)
    raise BenchmarkError(f"{url} did not answer 200 within {HEALTH_TIMEOUT_S:g} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Kill the shop's whole process group (bash and python) and reap bash."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)
