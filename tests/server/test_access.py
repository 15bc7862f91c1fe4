"""Who may do what through the API: tokens (shown once, kept as hashes), roles per
project, the admin made at the first start, and the audit trail of every change — in
process over a real SQLite store and real git repositories."""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from andon.server import create_app
from andon.settings import Settings
from andon.store import Role, Store, open_store
from andon.store._tables import api_tokens, audit_entries
from andon.testing import user_bearer

SPEC = """\
service: {name: %s}
processes:
  web: {command: python -m app, health: /healthz}
environments:
  prod: {protected: true}
"""


@dataclass
class Api:
    client: TestClient
    store: Store
    settings: Settings
    admin: dict[str, str]

    def as_(self, name: str, role: Role, project: str = "*") -> dict[str, str]:
        return user_bearer(self.store, name, role, project)


@pytest.fixture
def api(andon_home: Path, tmp_path: Path, repo_factory: Callable[..., Path]) -> Iterator[Api]:
    settings = Settings.from_env()
    with open_store(settings.database_url) as store:
        app = create_app(settings, store, controllers=False)
        with TestClient(app) as client:
            admin = {"Authorization": f"Bearer {settings.token_file.read_text().strip()}"}
            for name in ("shop", "blog"):
                repo = repo_factory(tmp_path / name, {"andon.yaml": SPEC % name})
                added = client.post("/api/v1/projects", json={"source": str(repo)}, headers=admin)
                assert added.status_code == 201, added.text
            yield Api(client, store, settings, admin)


def refusal(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert "\n" not in message and message.endswith((".", "'.")), message
    return str(message)


def test_the_first_start_makes_an_admin_whose_token_only_its_owner_reads(api: Api) -> None:
    path = api.settings.token_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text().strip()
    assert token.startswith("andon_") and len(token) > 40
    me = api.client.get("/api/v1/whoami", headers=api.admin).json()
    assert (me["name"], me["roles"]) == ("admin", {"*": "admin"})
    # Stored as a hash only.
    with api.store.engine.connect() as connection:
        stored = [row.token_hash for row in connection.execute(api_tokens.select())]
    assert token not in stored and len(stored) == 1


def test_requests_without_a_good_token_are_refused_saying_what_is_missing(api: Api) -> None:
    route = "/api/v1/projects"
    assert "needs an API token" in refusal(api.client.get(route), 401)
    basic = api.client.get(route, headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert "Bearer" in refusal(basic, 401)
    unknown = api.client.get(route, headers={"Authorization": "Bearer andon_nothing"})
    assert "not known" in refusal(unknown, 401)
    # Probes and signed git webhooks answer to other credentials.
    assert api.client.get("/api/v1/health").status_code == 200
    assert api.client.post("/api/v1/hooks/git", content=b"{}").status_code != 401


def test_a_revoked_or_expired_token_stops_working(api: Api) -> None:
    made = api.client.post(
        "/api/v1/tokens", json={"name": "ci", "expires_in": "1h"}, headers=api.admin
    ).json()
    mine = {"Authorization": f"Bearer {made['token']}"}
    assert api.client.get("/api/v1/projects", headers=mine).status_code == 200
    listed = api.client.get("/api/v1/tokens", headers=api.admin).json()
    assert {t["name"] for t in listed} == {"first start", "ci"}
    assert all("token" not in t and "token_hash" not in t for t in listed)

    revoked = api.client.delete(f"/api/v1/tokens/{made['id']}", headers=api.admin)
    assert revoked.json()["state"] == "revoked"
    assert "is revoked" in refusal(api.client.get("/api/v1/projects", headers=mine), 401)

    again = api.client.post("/api/v1/tokens", json={"name": "old"}, headers=api.admin).json()
    with api.store.engine.begin() as connection:
        connection.execute(
            update(api_tokens)
            .where(api_tokens.c.id == again["id"])
            .values(expires_at=datetime(2020, 1, 1, tzinfo=UTC))
        )
    api.client.app.state.access.forget()  # type: ignore[attr-defined]
    expired = api.client.get(
        "/api/v1/projects", headers={"Authorization": f"Bearer {again['token']}"}
    )
    assert "is expired" in refusal(expired, 401)


def test_a_viewer_reads_but_cannot_deploy_or_stop_the_line(api: Api) -> None:
    viewer = api.as_("vic", Role.VIEWER)
    assert api.client.get("/api/v1/projects/shop/line", headers=viewer).status_code == 200
    deploy = api.client.post(
        "/api/v1/projects/shop/environments/prod/rollouts", json={}, headers=viewer
    )
    message = refusal(deploy, 403)
    assert "vic may not deploy" in message and "deployer role in project shop" in message
    stop = api.client.post("/api/v1/projects/shop/line/stop", json={"reason": "x"}, headers=viewer)
    refusal(stop, 403)
    assert api.client.get("/api/v1/projects/shop/line", headers=viewer).json()["state"] == "running"


def test_roles_hold_in_their_own_project_only(api: Api) -> None:
    deployer = api.as_("dee", Role.DEPLOYER, project="shop")
    stopped = api.client.post(
        "/api/v1/projects/shop/line/stop", json={"reason": "db move"}, headers=deployer
    )
    assert stopped.status_code == 200 and stopped.json()["history"][0]["actor"] == "dee"
    elsewhere = api.client.post(
        "/api/v1/projects/blog/line/stop", json={"reason": "x"}, headers=deployer
    )
    assert "has no role there" in refusal(elsewhere, 403)
    # A route of no one project needs a role on every project.
    assert "every project" in refusal(api.client.get("/api/v1/pipelines", headers=deployer), 403)
    assert api.client.get("/api/v1/pipelines?project=shop", headers=deployer).status_code == 200


def test_people_tokens_and_the_audit_trail_are_for_admins(api: Api) -> None:
    deployer = api.as_("dee", Role.DEPLOYER)
    for method, route in (
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/users"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/audit/verify"),
        ("POST", "/api/v1/projects/shop/environments/prod/freezes"),
    ):
        answer = api.client.request(
            method, route, json={"name": "x", "reason": "x"}, headers=deployer
        )
        assert "admin role" in refusal(answer, 403), route
    others = api.client.get("/api/v1/tokens?user=admin", headers=deployer)
    assert "admin role" in refusal(others, 403)
    own = api.client.post("/api/v1/tokens", json={"name": "laptop"}, headers=deployer)
    assert own.status_code == 201 and own.json()["user"] == "dee"


def test_an_admin_adds_a_user_gives_them_a_token_and_changes_their_role(api: Api) -> None:
    added = api.client.post(
        "/api/v1/users",
        json={"name": "bo", "role": "deployer", "project": "shop"},
        headers=api.admin,
    )
    assert added.json()["roles"] == {"shop": "deployer"}
    made = api.client.post("/api/v1/tokens", json={"name": "bo", "user": "bo"}, headers=api.admin)
    bo = {"Authorization": f"Bearer {made.json()['token']}"}
    assert api.client.get("/api/v1/whoami", headers=bo).json()["name"] == "bo"
    changed = api.client.post(
        "/api/v1/users/bo/role", json={"role": None, "project": "shop"}, headers=api.admin
    )
    assert changed.json()["roles"] == {}
    api.client.app.state.access.forget()  # type: ignore[attr-defined]
    refusal(api.client.get("/api/v1/projects/shop/line", headers=bo), 403)
    last = api.client.post("/api/v1/users/admin/role", json={"role": "viewer"}, headers=api.admin)
    assert "last admin" in refusal(last, 409)
    taken = api.client.post("/api/v1/users", json={"name": "bo"}, headers=api.admin)
    assert "exists already" in refusal(taken, 409)
    bad = api.client.post("/api/v1/users", json={"name": "Bo Smith"}, headers=api.admin)
    assert bad.status_code == 422


def test_every_change_is_in_the_audit_trail_which_names_an_edited_entry(api: Api) -> None:
    deployer = api.as_("dee", Role.DEPLOYER)
    api.client.post("/api/v1/projects/shop/line/stop", json={"reason": "db move"}, headers=deployer)
    api.client.post("/api/v1/projects/shop/line/resume", json={}, headers=deployer)
    refused = api.client.post("/api/v1/projects/blog/line/resume", json={}, headers=deployer)
    assert refused.status_code == 409  # not changed: not recorded

    entries = api.client.get("/api/v1/audit?actor=dee", headers=api.admin).json()
    assert [(e["action"], e["target"]) for e in entries] == [
        ("line.resume_line", "projects/shop/line/resume"),
        ("line.stop_line", "projects/shop/line/stop"),
    ]
    actions = [e["action"] for e in api.client.get("/api/v1/audit", headers=api.admin).json()]
    assert actions[-3:] == ["projects.add_project", "projects.add_project", "access.bootstrap"]
    verified = api.client.get("/api/v1/audit/verify", headers=api.admin).json()
    assert verified["ok"] and verified["entries"] == len(actions)

    first_stop = entries[1]["id"]
    with api.store.engine.begin() as connection:
        connection.execute(
            update(audit_entries).where(audit_entries.c.id == first_stop).values(actor="nobody")
        )
    broken = api.client.get("/api/v1/audit/verify", headers=api.admin).json()
    assert (broken["ok"], broken["broken"]) == (False, first_stop)
