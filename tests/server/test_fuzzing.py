"""The API fuzzed with schemathesis against its own OpenAPI document: whatever a client
sends, valid or not, the server answers without a 5xx, with a status and content type
the document lists, and a body that matches the schema it declares for that status.

The app runs in process over a real SQLite store holding registered projects with their
environments, a flag, a client token and a queued pipeline, so that generated requests
reach past the 404 of an unknown name: path parameters are mostly drawn from those
names. Requests that would take the sandbox's own footing away (revoke the
fuzzer's tokens, remove its projects or destroy their environments) are turned on spares
instead."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from pydantic import TypeAdapter, ValidationError
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from andon.repos import is_remote
from andon.server import create_app
from andon.server.flag_edits import Who
from andon.settings import Settings
from andon.store import EnvironmentKind, EnvironmentStatus, Role, Store, open_store
from andon.testing import make_repo, user_bearer

# One worker runs them all: the sandbox is made once per module, and once is enough.
pytestmark = pytest.mark.xdist_group("fuzzing")

SPEC = """\
service: {name: %s}
processes:
  web: {command: python -m app, health: /healthz}
secrets: [TOKEN]
environments:
  prod: {protected: true}
  test: {}
"""
CHECKOUT = {
    "state": "ENABLED",
    "variants": {"on": True, "off": False},
    "defaultVariant": "off",
    "targeting": {"if": [{"==": [{"var": "country"}, "NL"]}, "on", "off"]},
}
PROJECTS = ["shop", "blog"]
SPARE_PROJECT = "scrap"
KNOWN = {
    "project": PROJECTS,
    "name": [*PROJECTS, "prod", "test", "TOKEN"],
    "environment": ["prod", "test"],
    "other": ["prod", "test"],
    "key": ["checkout"],
    "job": ["build"],
    "verb": ["promote", "pause", "resume", "abort", "retry", "approve"],
    "user": ["ann"],
}
"""Names in the sandbox that path parameters are drawn from 70% of the time; the rest are
generated (unknown names, mostly: 404)."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 15
"""Requests per operation, valid and invalid ones: the file takes about 25 s on two CPUs."""
CONFIG = {
    # No agent runs in the sandbox: what needs one answers 503, saying so (checked below).
    "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}},
    "dictionaries": {name: {"values": values} for name, values in KNOWN.items()},
    "parameters": {f"path.{name}": {"dictionary": name, "probability": 0.7} for name in KNOWN},
}


def _document() -> dict[str, Any]:
    """The OpenAPI document as the server serves it (it depends on the code alone)."""
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.from_env({"ANDON_HOME": home})
        with open_store(settings.database_url) as store:
            return create_app(settings, store, controllers=False).openapi()


SCHEMA = schemathesis.openapi.from_dict(_document(), config=schemathesis.Config.from_dict(CONFIG))
OPERATIONS = {
    operation.label: operation
    for operation in (result.ok() for result in SCHEMA.get_all_operations())
    # An SDK's stream of flag changes never ends; tests/server/test_flags_api.py follows it.
    if operation.path != "/api/v1/sdk/stream"
}


@dataclass
class Sandbox:
    app: FastAPI
    admin: dict[str, str]
    flag_client: dict[str, str]
    root: Path
    repos: list[Path]
    own_tokens: dict[str, int]
    """The route of each kind of token (people's, flag clients') → the id of the sandbox's
    own, which a revocation is turned away from."""
    spare_tokens: dict[str, int]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The app over a store with projects, their environments, a flag, client tokens, a
    queued pipeline and a second user, and the tokens to call it with."""
    root = tmp_path_factory.mktemp("fuzzing")
    # Not Settings.from_env(): no webhook URL of the machine may be told, nor its agent asked.
    settings = Settings.from_env({"ANDON_HOME": str(root / "home"), "ANDON_WEBHOOK_SECRET": "s"})
    with open_store(settings.database_url) as store:
        app = create_app(settings, store, controllers=False)
        # Without its lifespan: the app's one lifespan is the one schemathesis starts.
        client = TestClient(app)
        admin = user_bearer(store, "fuzzer", Role.ADMIN)
        spare_admin = user_bearer(store, "fuzzer", Role.ADMIN)
        user_bearer(store, "ann", Role.VIEWER)
        repos = []
        for name in [*PROJECTS, SPARE_PROJECT]:
            repo = make_repo(root / "repos" / name, {"andon.yaml": SPEC % name})
            added = client.post("/api/v1/projects", json={"source": str(repo)}, headers=admin)
            assert added.status_code == 201, added.text
            repos.append(repo)
            _environments(store, name)
        queued = client.post("/api/v1/projects/shop/pipelines", json={}, headers=admin)
        assert queued.status_code == 201, queued.text
        app.state.flags.put("shop", "prod", "checkout", {"flag": CHECKOUT}, Who("fuzz"))
        flag_token, spare_flag_token = (
            app.state.flags.tokens.create("shop", "prod", name) for name in ("fuzz", "spare")
        )
        own_tokens = {
            "/api/v1/tokens/{token_id}": _token_id(client, admin),
            "flags/tokens/{token_id}": flag_token[0].id,
        }
        spare_tokens = {
            "/api/v1/tokens/{token_id}": _token_id(client, spare_admin),
            "flags/tokens/{token_id}": spare_flag_token[0].id,
        }
        client.close()
        try:
            yield Sandbox(
                app=app,
                admin=admin,
                flag_client={"Authorization": f"Bearer {flag_token[1]}"},
                root=root,
                repos=repos,
                own_tokens=own_tokens,
                spare_tokens=spare_tokens,
            )
        finally:
            # schemathesis keeps the app's lifespan running until the process exits;
            # it ends here, while its store is open.
            shutdown_lifespans()


def _environments(store: Store, project: str) -> None:
    for name in KNOWN["environment"]:
        store.environments.create(project=project, name=name, kind=EnvironmentKind.DECLARED)
        store.environments.update(project, name, status=EnvironmentStatus.READY)


def _token_id(client: TestClient, headers: dict[str, str]) -> int:
    return int(client.get("/api/v1/whoami", headers=headers).json()["token"]["id"])


def _number(value: Any) -> int | None:
    """The number FastAPI reads in a path parameter (a negative case may send "1")."""
    try:
        return int(TypeAdapter(int).validate_python(str(value)))
    except ValidationError:
        return None


# One test per operation, driven by Hypothesis over schemathesis's strategies, rather than
# schemathesis's own pytest collection: under pytest 9.2 its items of one test share one
# node id, and pytest-xdist then runs only the first of them.
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_the_api_answers_every_request_as_its_document_says(label: str, sandbox: Sandbox) -> None:
    operation = OPERATIONS[label]
    cases = operation.as_strategy(GenerationMode.POSITIVE)
    takes_input = operation.path_parameters, operation.query, operation.headers, operation.body
    if any(len(container) for container in takes_input):
        cases |= operation.as_strategy(GenerationMode.NEGATIVE)

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def answers_as_documented(case: Case[Any]) -> None:
        _keep_the_ground(case, sandbox)
        sdk = case.path.startswith(("/api/v1/sdk", "/ofrep/"))
        headers = sandbox.flag_client if sdk else sandbox.admin
        response = case.call_and_validate(app=sandbox.app, headers=headers, checks=CHECKS)
        if response.status_code == 503:
            assert "agent" in response.json()["error"]["message"], response.text

    answers_as_documented()


def _keep_the_ground(case: Case[Any], sandbox: Sandbox) -> None:
    """Turn a request that would take the sandbox's footing away on a spare, and keep
    repository sources in the sandbox: never a URL to clone, nor a repository elsewhere
    on the machine (every other one names one of the sandbox's repositories)."""
    path, method, params = case.path, case.method, case.path_parameters or {}
    if method == "DELETE" and path == "/api/v1/projects/{name}" and params["name"] in PROJECTS:
        params["name"] = SPARE_PROJECT
    destroys = method == "DELETE" and path.endswith("/environments/{name}")
    if (destroys or path.endswith("/recreate")) and params["project"] in PROJECTS:
        params["project"] = SPARE_PROJECT
    for route, own in sandbox.own_tokens.items():
        if method == "DELETE" and path.endswith(route) and _number(params["token_id"]) == own:
            params["token_id"] = sandbox.spare_tokens[route]
    body = case.body
    if path == "/api/v1/projects" and isinstance(body, dict) and "source" in body:
        source = body["source"]
        if not isinstance(source, str):
            return
        if len(source) % 2:
            body["source"] = str(sandbox.repos[len(source) % len(sandbox.repos)])
        elif is_remote(source) or not source.startswith(str(sandbox.root)):
            body["source"] = str(sandbox.root / "sources" / source.replace("/", "_"))


DEEP = b"[" * 100_000 + b"]" * 100_000
BIG = b'{"source": "' + b"a" * (1 << 20) + b'"}'
MALFORMED = {
    "JSON cut short": ("POST", "/api/v1/projects", b'{"source": ', 422),
    "not UTF-8": ("POST", "/api/v1/projects", b'{"source": "\xff"}', 400),
    "nested too deeply": ("POST", "/api/v1/tokens", DEEP, 400),
    "NaN": ("POST", "/api/v1/tokens", b'{"name": "t", "x": NaN}', 422),
    "a float too large": ("POST", "/api/v1/tokens", b'{"name": "t", "x": 1e999}', 422),
    "a NaN flag variant": (
        "PUT",
        "/api/v1/projects/shop/environments/prod/flags/nan",
        b'{"flag": {"variants": {"a": NaN}, "defaultVariant": "a"}}',
        422,
    ),
    "a body over 1 MiB": ("POST", "/api/v1/projects", BIG, 413),
    "a chunked body over 1 MiB": ("POST", "/api/v1/projects", [BIG[:600_000], BIG], 413),
    "a body over 1 MiB to a route of none": ("GET", "/api/v1/projects", BIG, 413),
    "a NUL in a branch": (
        "POST",
        "/api/v1/projects/shop/pipelines",
        b'{"ref": "ma\\u0000in"}',
        404,
    ),
    "a NUL in a trunk": (
        "POST",
        "/api/v1/projects",
        b'{"source": "{repo}", "trunk": "\\u0000"}',
        404,
    ),
    "a NUL in a directory": (
        "POST",
        "/api/v1/projects",
        b'{"source": "{repo}", "dir": "a\\u0000"}',
        404,
    ),
    "a NUL in a commit": (
        "POST",
        "/api/v1/projects/shop/environments/test/rollouts",
        b'{"commit": "\\u0000"}',
        404,
    ),
    "a record number no database holds": (
        "POST",
        "/api/v1/pipelines/9223372036854775808/cancel",
        b"",
        422,
    ),
    "a duration beyond time": (
        "POST",
        "/api/v1/tokens",
        b'{"name": "t", "expires_in": "9999999999999d"}',
        400,
    ),
    "a duration of centuries": ("GET", "/api/v1/audit?since=36600d", b"", 400),
    "a freeze that starts at the end of time": (
        "POST",
        "/api/v1/projects/shop/environments/prod/freezes",
        b'{"reason": "r", "starts_at": "9999-12-31T23:59:59Z", "duration": "1d"}',
        400,
    ),
    "a freeze that ends before the first time": (
        "POST",
        "/api/v1/projects/shop/environments/prod/freezes",
        b'{"reason": "r", "ends_at": "0001-01-01T00:00:00+14:00"}',
        400,
    ),
}


@pytest.fixture(scope="module")
def client(sandbox: Sandbox) -> Iterator[TestClient]:
    """A client of the sandbox's app, without a lifespan of its own."""
    with closing(TestClient(sandbox.app)) as made:
        yield made


@pytest.mark.parametrize("case", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_and_oversize_requests_are_refused_in_one_sentence(
    case: tuple[str, str, Any, int], sandbox: Sandbox, client: TestClient
) -> None:
    method, path, body, status = case
    if isinstance(body, bytes):
        body = body.replace(b"{repo}", str(sandbox.repos[0]).encode())
    else:
        body = iter(body)  # sent chunked, without a Content-Length
    headers = {**sandbox.admin, "Content-Type": "application/json"}
    response = client.request(method, path, content=body, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"code", "message"}
    message = error["message"]
    assert "\n" not in message and message.endswith("."), message


def test_a_push_event_may_be_larger_than_other_bodies(client: TestClient) -> None:
    """GitHub sends push events of up to 25 MB: this one gets as far as its signature."""
    response = client.post("/api/v1/hooks/git", content=BIG * 2, headers={"X-GitHub-Event": "push"})
    assert response.status_code == 401, response.text
    assert "signature" in response.json()["error"]["message"]


def test_an_ofrep_context_nested_too_deeply_is_an_invalid_context(
    sandbox: Sandbox, client: TestClient
) -> None:
    response = client.post(
        "/ofrep/v1/evaluate/flags/checkout",
        content=b'{"context": {"k": ' + DEEP + b"}}",
        headers=sandbox.flag_client,
    )
    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == "INVALID_CONTEXT"
