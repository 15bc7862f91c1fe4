"""The dashboard in process, over a real SQLite store and real git repositories: signing
in with a token (and refused without a good one), sessions that end when their token is
revoked, CSRF and origin checks that refuse a forged form before it changes anything,
roles (a viewer sees but may not act; whoever asked for a rollout cannot approve it),
every page for an empty and for a populated store, the audit trail of what the
dashboard changed, and the live regions' event streams."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from andon.environments import EnvironmentLifecycle
from andon.rollout import RolloutState, plan_rollout
from andon.runtimes import FakeRuntime
from andon.server import create_app
from andon.server.access import hash_token, new_token
from andon.server.flag_edits import Who
from andon.server.rollout_records import RolloutDocument
from andon.settings import Settings
from andon.spec import Strategy, load_spec
from andon.store import (
    DeployEventKind,
    EnvironmentKind,
    EnvironmentStatus,
    JobStatus,
    NewJob,
    Role,
    RolloutStatus,
    Store,
    open_store,
)
from andon.testing import admin_token

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
BANNER = {
    "flag": {
        "state": "DISABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
    },
    "experiment": {"goal": "checkout", "control": "off"},
}


@dataclass
class Dashboard:
    app: FastAPI
    store: Store
    settings: Settings
    admin: str
    """The admin's API token."""

    def token(self, user: str, role: Role) -> str:
        """A new API token of ``user`` (made with ``role`` on every project if need be)."""
        if self.store.users.find(user) is None:
            self.store.users.create(user, by="test")
        self.store.users.set_role(user, "*", role)
        token = new_token()
        self.store.api_tokens.create(user=user, name="test", token_hash=hash_token(token))
        return token

    def browser(self) -> TestClient:
        """A client with its own cookies, as another browser would be."""
        return TestClient(self.app, follow_redirects=False)

    def signed_in(self, token: str) -> tuple[TestClient, str]:
        """A browser signed in with ``token``, and its session's CSRF token."""
        client = self.browser()
        form = client.get("/signin")
        answer = client.post(
            "/signin", data={"csrf": csrf_of(form.text), "token": token, "next": "/"}
        )
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/"
        return client, csrf_of(client.get("/").text)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html
    return found.group(1)


def page(client: TestClient, path: str, status: int = 200) -> str:
    answer = client.get(path)
    assert answer.status_code == status, (path, answer.status_code, answer.text[:2000])
    assert answer.headers["content-type"].startswith("text/html")
    return answer.text


@pytest.fixture
def empty(andon_home: Path) -> Iterator[Dashboard]:
    settings = Settings.from_env()
    with open_store(settings.database_url) as store:
        app = create_app(settings, store, controllers=False)
        with TestClient(app):
            yield Dashboard(app, store, settings, admin_token(settings, store))


@pytest.fixture
def populated(tiny_service: Any, tmp_path: Path) -> Iterator[Dashboard]:
    """The tiny service with a pipeline and its jobs' log, an environment up with a canary
    rollout asked for by ann waiting for approval, a flag with an experiment, and the
    deploy events of a commit that went to prod."""
    store, settings = tiny_service.store, tiny_service.settings
    fake = FakeRuntime()
    lifecycle = EnvironmentLifecycle(store, settings, runtimes=lambda kind: fake)
    app = create_app(settings, store, controllers=False, lifecycle=lifecycle)
    now = datetime.now(UTC)
    log = tmp_path / "unit.log"
    log.write_text("collecting tests\n3 passed in 0.1s <script>alert(1)</script>\n")
    unit, package = store.jobs.create_many(
        tiny_service.pipeline_id,
        [
            NewJob(name="unit", job="unit", stage="test"),
            NewJob(name="package", job="package", stage="package"),
        ],
    )
    store.jobs.update(
        unit.id,
        status=JobStatus.SUCCESS,
        started_at=now - timedelta(seconds=30),
        finished_at=now - timedelta(seconds=20),
        log_path=str(log),
    )
    store.jobs.update(
        package.id,
        status=JobStatus.SUCCESS,
        started_at=now - timedelta(seconds=19),
        finished_at=now - timedelta(seconds=15),
    )
    store.pipelines.update(tiny_service.pipeline_id, started_at=now - timedelta(seconds=31))
    first = tiny_service.commit
    store.environments.create(project="tiny", name="prod", kind=EnvironmentKind.DECLARED)
    store.environments.update(
        "tiny",
        "prod",
        status=EnvironmentStatus.READY,
        artifact=tiny_service.artifact,
        version=first,
        url="http://127.0.0.1:1/",
    )
    for kind, seconds in ((DeployEventKind.STARTED, 10), (DeployEventKind.FINISHED, 5)):
        store.deploy_events.record(
            project="tiny",
            environment="prod",
            kind=kind,
            version=first,
            artifact=tiny_service.artifact,
            commits=[first],
            rollout_id=None,
            at=now - timedelta(seconds=seconds),
        )
    second, digest = tiny_service.release({"app.py": "print('two')\n"}, "two", tmp_path / "two")
    spec = load_spec(tiny_service.repo / "andon.yaml")
    plan = plan_rollout(
        spec.release, instances=1, strategy=Strategy.CANARY, smoke=False, requires_approval=True
    )
    state = RolloutState.begin(plan, stable=first, canary=second, now=now, by="ann")
    store.rollouts.create(
        project="tiny",
        environment="prod",
        strategy="canary",
        from_version=first,
        from_artifact=tiny_service.artifact,
        to_version=second,
        to_artifact=digest,
        commits=[second],
        state=RolloutDocument.new(plan, state),
        created_by="ann",
        status=RolloutStatus.RUNNING,
        message=state.decisions[-1].sentence,
    )
    with TestClient(app):
        app.state.flags.put("tiny", "prod", "banner", BANNER, Who("admin", "first cut"))
        yield Dashboard(app, store, settings, admin_token(settings, store))


# -- signing in ---------------------------------------------------------------------------


def test_pages_send_a_browser_without_a_session_to_sign_in(empty: Dashboard) -> None:
    client = empty.browser()
    for path in ("/", "/pipelines", "/environments", "/flags", "/audit"):
        answer = client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == f"/signin?next={path}"
    assert client.get("/events/board").status_code == 401
    # The sign-in page says what a token is and where to find one.
    text = page(client, "/signin")
    assert '<label for="token">API token</label>' in text
    assert "$ANDON_HOME/token" in text and "andon token create" in text


def test_a_bad_token_is_refused_with_a_message_and_opens_no_session(empty: Dashboard) -> None:
    client = empty.browser()
    csrf = csrf_of(page(client, "/signin"))
    answer = client.post("/signin", data={"csrf": csrf, "token": "andon_not-a-token"})
    assert answer.status_code == 401
    assert "That token was refused: this API token is not known" in answer.text
    assert "andon_session" not in answer.headers.get("set-cookie", "")
    assert client.get("/").status_code == 303


def test_a_sign_in_form_not_sent_from_the_sign_in_page_is_refused(empty: Dashboard) -> None:
    client = empty.browser()
    answer = client.post("/signin", data={"csrf": "made-up", "token": empty.admin})
    assert answer.status_code == 403
    assert "not sent from this page" in answer.text
    assert client.get("/").status_code == 303


def test_a_sign_in_from_another_site_is_refused(empty: Dashboard) -> None:
    client = empty.browser()
    csrf = csrf_of(page(client, "/signin"))
    answer = client.post(
        "/signin",
        data={"csrf": csrf, "token": empty.admin},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert "from https://evil.example may not change anything" in answer.text
    assert client.get("/").status_code == 303


def test_signing_in_opens_a_strict_http_only_session_that_signing_out_ends(
    empty: Dashboard,
) -> None:
    client = empty.browser()
    csrf = csrf_of(page(client, "/signin"))
    answer = client.post(
        "/signin", data={"csrf": csrf, "token": empty.admin, "next": "//evil.example/"}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"  # never to another site
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("andon_session=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; https sets it
    assert empty.admin not in cookie
    board = page(client, "/")
    assert "Signed in as <strong data-user>admin</strong>" in board
    out = client.post("/signout", data={"csrf": csrf_of(board)})
    assert (out.status_code, out.headers["location"]) == (303, "/signin")
    assert client.get("/").status_code == 303


def test_a_revoked_token_ends_its_session_at_the_next_request(empty: Dashboard) -> None:
    token = empty.token("ann", Role.VIEWER)
    client, _ = empty.signed_in(token)
    assert client.get("/pipelines").status_code == 200
    (record,) = empty.store.api_tokens.list("ann")
    empty.store.api_tokens.revoke(record.id)
    answer = client.get("/pipelines")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=/pipelines&ended=1"
    assert "Your session has ended" in page(client, "/signin?next=/pipelines&ended=1")


def test_pages_carry_headers_that_forbid_framing_sniffing_and_foreign_scripts(
    empty: Dashboard,
) -> None:
    client, _ = empty.signed_in(empty.admin)
    answer = client.get("/")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/htmx.min.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/VENDORED.md").status_code == 404


def test_the_api_still_answers_unknown_routes_in_json(empty: Dashboard) -> None:
    answer = empty.browser().get("/api/v1/no-such-route")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


# -- pages --------------------------------------------------------------------------------


def test_every_page_reads_for_an_empty_store(empty: Dashboard) -> None:
    client, _ = empty.signed_in(empty.admin)
    assert "No project is registered yet" in page(client, "/")
    assert "No pipeline has run yet" in page(client, "/pipelines")
    assert "No project is registered yet" in page(client, "/environments")
    assert "No environment is up" in page(client, "/flags")
    assert "No experiment runs" in page(client, "/experiments")
    assert 'data-audit-check="ok"' in page(client, "/audit")
    assert "no pipeline #5" in page(client, "/pipelines/5", 404)


def test_every_page_reads_for_a_populated_store(populated: Dashboard) -> None:
    client, _ = populated.signed_in(populated.admin)
    board = page(client, "/")
    assert 'data-line="running"' in board
    row = board.split('<tr data-commit="', 1)[1]
    assert 'data-stage="pipeline" data-state="done"' in row
    assert 'data-stage="artifact" data-state="done"' in row
    first = populated.store.pipelines.list(project="tiny")[-1].id
    assert f'<tr data-pipeline="{first}">' in page(client, "/pipelines")
    assert 'data-log="package"' in page(client, f"/pipelines/{first}")  # the last job's
    detail = page(client, f"/pipelines/{first}?job=unit")
    assert 'data-log="unit"' in detail and "3 passed in 0.1s" in detail
    assert "<script>alert(1)</script>" not in detail  # logs are escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    environments = page(client, "/environments")
    assert 'data-environment="prod"' in environments
    prod = page(client, "/projects/tiny/environments/prod")
    assert "data-awaiting-approval" in prod
    assert "asked for by ann" in prod
    # Only what makes sense now: approve it, or abort it.
    assert re.findall(r'data-verb="(\w+)"', prod) == ["approve", "abort"]
    assert "Decision log" in prod
    flags = page(client, "/projects/tiny/environments/prod/flags")
    assert 'data-flag="banner"' in flags and 'data-flag-state="DISABLED"' in flags
    assert '<label for="rollout-banner">Roll out to</label>' in flags
    assert "banner" in page(client, "/flags")
    flag = page(client, "/projects/tiny/environments/prod/flags/banner")
    assert "first cut" in flag
    assert "banner" in page(client, "/experiments")
    experiment = page(client, "/projects/tiny/environments/prod/experiments/banner")
    assert '<svg xmlns="http://www.w3.org/2000/svg" role="img"' in experiment
    assert "unknown flag" not in experiment


def test_a_page_of_something_that_does_not_exist_says_so(populated: Dashboard) -> None:
    client, _ = populated.signed_in(populated.admin)
    assert "no environment" in page(client, "/projects/tiny/environments/nope", 404).lower()
    assert "no flag" in page(client, "/projects/tiny/environments/prod/flags/nope", 404).lower()


# -- forms: CSRF, origin, roles -----------------------------------------------------------


def test_a_form_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(
    populated: Dashboard,
) -> None:
    client, csrf = populated.signed_in(populated.admin)
    kill = "/projects/tiny/environments/prod/flags/banner/kill"
    before = populated.store.flags.version("tiny", "prod")
    audited = len(populated.store.audit.list())
    for data in ({}, {"csrf": "not-the-token"}, {"csrf": csrf[:-1]}):
        answer = client.post(kill, data=data)
        assert answer.status_code == 403, data
        assert "CSRF token is missing or wrong" in answer.text
        assert "nothing was changed" in answer.text
    assert populated.store.flags.version("tiny", "prod") == before
    assert len(populated.store.audit.list()) == audited
    # An htmx request may send it as a header instead.
    sent = client.post(kill, headers={"X-CSRF-Token": csrf}, data={"reason": "too loud"})
    assert sent.status_code == 303
    assert populated.store.flags.version("tiny", "prod") == before + 1


def test_a_form_posted_from_another_site_is_refused(populated: Dashboard) -> None:
    client, csrf = populated.signed_in(populated.admin)
    answer = client.post(
        "/projects/tiny/environments/prod/flags/banner/set",
        data={"csrf": csrf, "on": "true"},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert "from https://evil.example may not change anything" in answer.text


def test_a_viewer_sees_the_pages_but_what_they_post_is_refused(populated: Dashboard) -> None:
    client, csrf = populated.signed_in(populated.token("vera", Role.VIEWER))
    prod = page(client, "/projects/tiny/environments/prod")
    assert 'data-verb="approve"' not in prod  # no buttons for what they may not do
    assert "needs the deployer role" in prod
    assert "Turn on" not in page(client, "/projects/tiny/environments/prod/flags")
    before = populated.store.rollouts.list("tiny", "prod")[0]
    answer = client.post("/projects/tiny/environments/prod/rollout/approve", data={"csrf": csrf})
    assert answer.status_code == 403
    assert "vera may not approve a rollout" in answer.text
    assert populated.store.rollouts.list("tiny", "prod")[0].state == before.state
    flag = client.post(
        "/projects/tiny/environments/prod/flags/banner/set", data={"csrf": csrf, "on": "true"}
    )
    assert flag.status_code == 403
    assert "vera may not change flag banner" in flag.text
    assert populated.store.audit.list(actor="vera") == []
    # Nor the audit trail, which is the admins'.
    assert "needs the admin role" in page(client, "/audit", 403)


def test_whoever_asked_for_a_rollout_cannot_approve_it_and_another_deployer_can(
    populated: Dashboard,
) -> None:
    approve = "/projects/tiny/environments/prod/rollout/approve"
    ann, ann_csrf = populated.signed_in(populated.token("ann", Role.DEPLOYER))
    refused = ann.post(approve, data={"csrf": ann_csrf})
    assert refused.status_code == 403
    assert "ann asked for rollout #1 and cannot approve it too" in refused.text
    assert "data-awaiting-approval" in refused.text  # the page itself, with the message
    assert populated.store.audit.list(actor="ann") == []

    bob, bob_csrf = populated.signed_in(populated.token("bob", Role.DEPLOYER))
    approved = bob.post(approve, data={"csrf": bob_csrf})
    assert (approved.status_code, approved.headers["location"]) == (
        303,
        "/projects/tiny/environments/prod",
    )
    assert "You approved rollout #1 of prod." in page(bob, "/projects/tiny/environments/prod")
    (entry,) = populated.store.audit.list(actor="bob")
    assert entry.action == "rollouts.command.approve"
    assert entry.target == "projects/tiny/environments/prod/rollout/approve"
    assert entry.after["via"] == "dashboard"
    assert "bob" in json.dumps(populated.store.rollouts.get(1).state)


def test_a_refused_command_is_said_on_the_page_and_not_audited(populated: Dashboard) -> None:
    client, csrf = populated.signed_in(populated.admin)
    answer = client.post("/projects/tiny/environments/prod/rollout/resume", data={"csrf": csrf})
    assert answer.status_code == 409
    assert "cannot resume rollout #1" in answer.text
    assert "Environment prod of tiny" in answer.text
    assert populated.store.audit.list(action="rollouts") == []


def test_flags_change_from_their_page_and_the_change_is_audited(populated: Dashboard) -> None:
    client, csrf = populated.signed_in(populated.admin)
    base = "/projects/tiny/environments/prod/flags/banner"
    assert client.post(f"{base}/set", data={"csrf": csrf, "on": "true"}).status_code == 303
    shown = page(client, "/projects/tiny/environments/prod/flags")
    assert "Flag banner in prod turned on" in shown
    assert 'data-flag-state="ENABLED"' in shown
    assert client.post(f"{base}/set", data={"csrf": csrf, "rollout": "25"}).status_code == 303
    shown = page(client, "/projects/tiny/environments/prod/flags")
    assert "on 25%, off 75%" in shown
    bad = client.post(f"{base}/set", data={"csrf": csrf, "rollout": "lots"})
    assert bad.status_code == 400
    assert "&#39;lots&#39; is not a percentage" in bad.text
    history = populated.store.flags.history("tiny", "prod", flag="banner")
    assert [entry.actor for entry in history[:2]] == ["admin", "admin"]
    actions = [entry.action for entry in populated.store.audit.list(action="flags")]
    assert actions == ["flags.set_flag", "flags.set_flag"]


def test_the_audit_trail_page_lists_entries_and_filters_them(populated: Dashboard) -> None:
    client, csrf = populated.signed_in(populated.admin)
    client.post("/projects/tiny/environments/prod/flags/banner/kill", data={"csrf": csrf})
    trail = page(client, "/audit")
    assert 'data-audit-action="flags.kill_flag" data-audit-actor="admin"' in trail
    assert 'data-audit-action="access.bootstrap"' in trail
    filtered = page(client, "/audit?action=flags")
    assert "access.bootstrap" not in filtered and "flags.kill_flag" in filtered


# -- live regions -------------------------------------------------------------------------


def events(text: str) -> dict[str, str]:
    found = {}
    for block in text.split("\n\n"):
        lines = block.split("\n")
        if lines and lines[0].startswith("event: "):
            found[lines[0].removeprefix("event: ")] = "\n".join(
                line.removeprefix("data: ") for line in lines[1:]
            )
    return found


def test_a_page_stream_sends_each_live_region_as_an_event(populated: Dashboard) -> None:
    # A stream that ends after its first look, so that the test can read it whole.
    populated.app.state.dashboard_streams.lifetime = 0
    client, _ = populated.signed_in(populated.admin)
    board = client.get("/events/board")
    assert board.headers["content-type"].startswith("text/event-stream")
    sent = events(board.text)
    assert set(sent) == {"line", "board"}
    assert 'data-line="running"' in sent["line"] and '<table class="board">' in sent["board"]
    environment = events(client.get("/events/projects/tiny/environments/prod").text)
    assert set(environment) == {"line", "rollout", "actions", "instances"}
    assert 'data-verb="approve"' in environment["actions"]
    assert "data-awaiting-approval" in environment["rollout"]
    pipeline = populated.store.pipelines.list(project="tiny")[-1].id
    jobs = events(client.get(f"/events/pipelines/{pipeline}?job=unit").text)
    assert set(jobs) == {"line", "jobs", "log"} and "3 passed" in jobs["log"]


def test_a_stream_of_a_revoked_session_says_so_and_ends(populated: Dashboard) -> None:
    populated.app.state.dashboard_streams.lifetime = 60
    token = populated.token("ann", Role.VIEWER)
    client, _ = populated.signed_in(token)
    (record,) = populated.store.api_tokens.list("ann")
    populated.store.api_tokens.revoke(record.id)
    # The session is checked when the stream opens (401) and at every look after.
    assert client.get("/events/line").status_code == 401
