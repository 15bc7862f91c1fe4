"""The real ``andon whoami``, ``user``, ``token``, ``audit`` and ``freeze`` commands, and
``deploy --break-glass``, against a real server: a user added and given a token shown
once, refused what their role does not allow (exit 3, one line), promoted, revoked; the
audit trail of it all, verified until a row is edited in the database; a freeze window
added, listed and lifted."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from andon.server import create_app
from andon.settings import Settings
from andon.store import EnvironmentKind, Store, open_store
from andon.testing import serve
from andon.testing.commands import andon, refusal, stdout_of

ROLLOUTS = "/api/v1/projects/shop/environments/prod/rollouts"


@dataclass
class BodyRecorder:
    """An ASGI app in front of another that notes the JSON body of each POST, by path."""

    app: Any
    bodies: dict[str, Any] = field(default_factory=dict)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def noting() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    self.bodies[scope["path"]] = json.loads(b"".join(chunks) or b"null")
            return message

        await self.app(scope, noting, send)


@dataclass
class Served:
    url: str
    store: Store
    recorder: BodyRecorder


@pytest.fixture
def served(andon_home: Path, port: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """A real server (its first start made the admin whose token is in ANDON_HOME) with
    project ``shop`` and an environment record ``prod`` (not up: nothing deploys)."""
    monkeypatch.delenv("ANDON_TOKEN", raising=False)
    settings = Settings.from_env()
    with open_store(settings.database_url) as store:
        store.projects.add(
            name="shop", source="/src/shop", subdir="", trunk="main", service="shop",
            commit="a" * 40, spec={"environments": {"prod": {}}},
        )  # fmt: skip
        store.environments.create(project="shop", name="prod", kind=EnvironmentKind.DECLARED)
        recorder = BodyRecorder(create_app(settings, store, controllers=False))
        with serve(recorder, port) as url:
            monkeypatch.setenv("ANDON_URL", url)
            yield Served(url, store, recorder)


def ok(*args: str) -> str:
    return stdout_of(andon(*args))


def as_token(monkeypatch: pytest.MonkeyPatch, token: str, *args: str) -> Any:
    """``andon ARGS`` signed in with ``token`` (ANDON_TOKEN) instead of the admin's."""
    with monkeypatch.context() as patched:
        patched.setenv("ANDON_TOKEN", token)
        return andon(*args)


def test_a_user_gets_a_token_once_is_refused_promoted_revoked_and_audited(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ok("whoami").splitlines() == [
        "admin: admin on every project",
        "token #1 (first start), active, never expires",
    ]
    assert "added ann: viewer on shop" in ok("user", "add", "ann", "--project", "shop")

    created = ok("token", "create", "--user", "ann", "--name", "laptop").splitlines()
    token = created[0]
    assert token.startswith("andon_") and len(created) == 2
    assert "token #2 (laptop) of ann" in created[1] and "will not be shown again" in created[1]
    quiet = ok("token", "create", "--user", "ann", "--name", "ci", "--quiet", "--expires-in", "30d")
    assert quiet.startswith("andon_") and quiet.count("\n") == 1
    listed = ok("token", "list", "--all")
    assert "laptop" in listed and "ci" in listed and "first start" in listed
    assert token not in listed and quiet.strip() not in listed
    anns = json.loads(ok("token", "list", "--user", "ann", "--json"))
    assert [(t["id"], t["name"], t["state"]) for t in anns] == [
        (2, "laptop", "active"),
        (3, "ci", "active"),
    ]
    assert all("token" not in t and "token_hash" not in t for t in anns)

    # A viewer of shop may not deploy there; the one line says which role an admin grants.
    deploy = refusal(as_token(monkeypatch, token, "deploy", "prod", "--project", "shop"), 3)
    assert "needs the deployer role in project shop" in deploy
    assert "'andon user role ann deployer --project shop'" in deploy

    assert "ann is now deployer on shop; roles: deployer on shop" in ok(
        "user", "role", "ann", "deployer", "--project", "shop"
    )
    assert "ann: deployer on shop" in stdout_of(as_token(monkeypatch, token, "whoami"))
    assert "ann no longer has a role on shop" in ok("user", "role", "ann", "none", "-p", "shop")
    users = ok("user", "list")
    assert "admin on every project" in users and "ann" in users and "no role" in users

    assert "token #2 (laptop) of ann revoked" in ok("token", "revoke", "2")
    revoked = refusal(as_token(monkeypatch, token, "whoami"), 3)
    assert "API token #2 (laptop) of ann is revoked" in revoked

    entries = json.loads(ok("audit", "list", "--json"))
    done = [(e["actor"], e["action"], e["target"]) for e in reversed(entries)]
    assert done == [
        ("andon", "access.bootstrap", "users/admin"),
        ("admin", "access.add_user", "users/ann"),
        ("admin", "access.create_token", "tokens/2"),
        ("admin", "access.create_token", "tokens/3"),
        ("admin", "access.set_role", "users/ann"),
        ("admin", "access.set_role", "users/ann"),
        ("admin", "access.revoke_token", "tokens/2"),
    ]
    assert entries[0]["before"]["state"] == "active" and entries[0]["after"]["state"] == "revoked"
    table = ok("audit", "list", "--actor", "admin", "--action", "access.set_role", "--since", "1h")
    rows = table.splitlines()[1:]
    assert len(rows) == 2 and all("admin" in r and "users/ann" in r for r in rows)
    assert rows[0].split()[0] == "6"


def test_audit_verify_holds_until_a_row_is_edited_in_the_database(
    served: Served, andon_home: Path
) -> None:
    for number in range(2, 6):
        served.store.audit.append(actor="ann", action="test.step", target=f"things/{number}")
    head = served.store.audit.verify().head
    assert ok("audit", "verify").strip() == f"the audit trail holds: 5 entries, head {head[:12]}"

    with sqlite3.connect(andon_home / "andon.db") as database:
        database.execute("UPDATE audit_entries SET actor = 'mallory' WHERE id = 3")
    broken = andon("audit", "verify")
    assert broken.returncode == 1 and "Traceback" not in broken.stderr, broken
    assert broken.stdout.strip() == (
        "the audit trail is broken at entry #3: entry #3 was changed: its content does not "
        "match its hash (2 entries before it hold)"
    )
    found = andon("audit", "verify", "--json")
    assert found.returncode == 1
    assert json.loads(found.stdout) | {"head": ""} == {
        "ok": False,
        "entries": 2,
        "head": "",
        "broken": 3,
        "reason": "entry #3 was changed: its content does not match its hash",
    }


def test_a_freeze_is_added_listed_broken_through_and_lifted(served: Served) -> None:
    added = ok("freeze", "add", "prod", "--reason", "holiday sales", "--for", "4h")
    assert added.startswith("froze prod of shop until ") and "(freeze #1): holiday sales" in added
    listed = ok("freeze", "list")
    assert "holiday sales" in listed and "active" in listed and "admin" in listed
    (window,) = json.loads(ok("freeze", "list", "prod", "--json"))
    assert (window["id"], window["active"], window["created_by"]) == (1, True, "admin")

    # The reason reaches the server with the deploy (which refuses: prod is not up).
    deploy = andon("deploy", "prod", "--break-glass", "the checkout is down")
    assert "prod of shop is creating, not ready" in refusal(deploy, 1)
    assert served.recorder.bodies[ROLLOUTS]["break_glass"] == "the checkout is down"

    assert "lifted freeze #1 of prod of shop" in ok("freeze", "lift", "prod", "1")
    assert json.loads(ok("freeze", "list", "--json")) == []
    assert "lifted" in ok("freeze", "list", "prod", "--all")

    assert "--for 4h, or --until" in refusal(andon("freeze", "add", "prod", "--reason", "x"), 2)
    assert "has no time zone" in refusal(
        andon("freeze", "add", "prod", "--reason", "x", "--until", "2030-01-01T09:00"), 2
    )


def test_a_missing_or_unknown_token_is_one_line_and_exit_3(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unknown = refusal(as_token(monkeypatch, "andon_not-a-token", "whoami"), 3)
    assert "this API token is not known" in unknown
    monkeypatch.setenv("ANDON_HOME", str(tmp_path / "elsewhere"))  # holds no token file
    missing: subprocess.CompletedProcess[str] = andon("freeze", "list", "prod", "-p", "shop")
    assert "needs an API token" in refusal(missing, 3)
