"""Outgoing webhooks delivered to a real HTTP receiver on 127.0.0.1 that records every
request (headers and the exact bytes) and answers as each test scripts it — a status, or
no answer until the client has given up: signatures a receiver can verify, retries with
backoff, failures recorded and listed by the API, both body shapes, and the events of a
real rollout, flag kill and drift check reaching the receiver."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from andon.environments import EnvironmentLifecycle
from andon.pipeline import LineCause, LineChange
from andon.runtimes import FakeRuntime
from andon.server import create_app
from andon.server.drift_checking import DriftChecker
from andon.server.notifying import Notifier
from andon.server.operations import EnvironmentOperations
from andon.server.signing import signature_matches
from andon.settings import Settings
from andon.spec import load_spec
from andon.store import (
    EnvironmentStatus,
    FlagChangeKind,
    NewFlagHistory,
    RolloutRecord,
    Store,
    open_store,
)
from andon.testing import bearer

KEY = "a-signing-key-the-receiver-shares"
HANG = "hang"
"""A scripted answer: none, until well after the client's timeout."""
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
QUICK = "\nrelease:\n  strategy: recreate\n  bake: 0s\n  finalize_delay: 0s\n"


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it."""

    path: str
    headers: dict[str, str]
    body: bytes
    answer: int | str

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver: ``script`` answers the next requests in turn (then 200)."""

    base: str = ""
    script: list[int | str] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str = "/hook") -> str:
        return self.base + path

    def received(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def taken(self, path: str | None = None) -> list[Received]:
        """The requests answered 2xx."""
        return [r for r in self.received(path) if r.answer == 200]

    def events(self, path: str | None = None) -> list[str]:
        return [r.headers["X-Andon-Event"] for r in self.taken(path)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with hook.lock:
                answer = hook.script.pop(0) if hook.script else 200
                hook.requests.append(Received(self.path, dict(self.headers), body, answer))
            if answer == HANG:
                hook.released.wait(5)
                answer = 200
            # The client may have hung up (it timed out): nothing to answer then.
            with contextlib.suppress(OSError):
                self.send_response(int(answer))
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        hook.released.set()
        server.shutdown()
        server.server_close()
        thread.join()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what} after {timeout}s"
        time.sleep(0.01)


def stop() -> LineChange:
    return LineChange(stopped=True, cause=LineCause.MANUAL, reason="db migration", at=AT)


def verifies(key: str, received: Received) -> bool:
    """What the docs tell a receiver to do, over the raw body."""
    expected = "sha256=" + hmac.new(key.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers["X-Andon-Signature"])


# -- signing, retries, failures ---------------------------------------------------------------


def test_the_signature_verifies_with_the_key_over_the_received_bytes_and_not_with_another(
    receiver: Receiver,
) -> None:
    notifier = Notifier(webhook_url=receiver.url(), signing_key=KEY)

    notifier.line_changed("billing", stop())
    notifier.flush()

    (got,) = receiver.taken()
    assert verifies(KEY, got)
    assert signature_matches(KEY, got.body, got.headers["X-Andon-Signature"])
    assert not verifies("another-key", got)
    assert not signature_matches(KEY, got.body + b" ", got.headers["X-Andon-Signature"])
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Andon-Event"] == "line.stopped"
    assert uuid.UUID(got.headers["X-Andon-Delivery"])
    assert abs(int(got.headers["X-Andon-Timestamp"]) - time.time()) < 60
    assert got.json == {
        "event": "line.stopped",
        "at": "2026-03-02T09:30:00+00:00",
        "project": "billing",
        "reason": "db migration",
        "actor": "andon",
        "commit": None,
        "pipeline_id": None,
    }


def test_without_a_signing_key_deliveries_carry_no_signature(receiver: Receiver) -> None:
    notifier = Notifier(webhook_url=receiver.url())
    notifier.line_changed("billing", stop())
    notifier.flush()

    (got,) = receiver.taken()
    assert "X-Andon-Signature" not in got.headers and got.headers["X-Andon-Delivery"]


def test_a_receiver_answering_500_twice_gets_three_attempts_of_one_delivery_then_delivered(
    receiver: Receiver,
) -> None:
    receiver.script = [500, 500]
    notifier = Notifier(webhook_url=receiver.url(), signing_key=KEY, retry_delays=(0.01, 0.02))

    notifier.line_changed("billing", stop())
    notifier.flush()

    attempts = receiver.received()
    assert [r.answer for r in attempts] == [500, 500, 200]
    # A retry is the same delivery: same id, same bytes, same signature.
    assert len({r.headers["X-Andon-Delivery"] for r in attempts}) == 1
    assert len({r.body for r in attempts}) == 1 and all(verifies(KEY, r) for r in attempts)
    (delivery,) = notifier.deliveries()
    assert (delivery.status, delivery.attempts, delivery.event) == ("delivered", 3, "line.stopped")
    assert delivery.id == attempts[0].headers["X-Andon-Delivery"]


def test_a_receiver_that_never_answers_in_time_is_recorded_failed_without_blocking_the_caller(
    receiver: Receiver,
) -> None:
    receiver.script = [HANG] * 3
    notifier = Notifier(webhook_url=receiver.url(), timeout=0.1, retry_delays=(0.02, 0.04))

    started = time.perf_counter()
    notifier.send("rollout.started", "a rollout started", {"project": "billing"}, at=AT)
    took = time.perf_counter() - started
    assert took < 0.05, f"send took {took:.3f}s"
    assert notifier.deliveries() == []
    notifier.flush()

    assert len(receiver.received()) == 3
    (delivery,) = notifier.deliveries()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert delivery.last_error is not None and "no answer within 0.1s" in delivery.last_error


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_a_4xx_answer_is_not_retried(receiver: Receiver, status: int) -> None:
    receiver.script = [status]
    notifier = Notifier(webhook_url=receiver.url(), retry_delays=(0.01, 0.01))

    notifier.line_changed("billing", stop())
    notifier.flush()

    assert len(receiver.received()) == 1
    (delivery,) = notifier.deliveries()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.last_error == f"HTTP {status}"


@pytest.mark.parametrize("status", [408, 429, 503])
def test_a_busy_receiver_is_retried(receiver: Receiver, status: int) -> None:
    receiver.script = [status]
    notifier = Notifier(webhook_url=receiver.url(), retry_delays=(0.01, 0.01))

    notifier.line_changed("billing", stop())
    notifier.flush()

    assert [r.answer for r in receiver.received()] == [status, 200]
    assert notifier.deliveries()[0].status == "delivered"


def test_both_bodies_are_sent_when_both_urls_are_set(receiver: Receiver) -> None:
    notifier = Notifier(
        receiver.url("/slack"), webhook_url=receiver.url("/generic"), signing_key=KEY
    )

    notifier.line_changed("billing", stop())
    notifier.flush()

    (slack,), (generic,) = receiver.taken("/slack"), receiver.taken("/generic")
    assert slack.json["text"] == ":rotating_light: billing: the line is stopped: db migration"
    assert slack.json["andon"] == generic.json
    assert generic.json["event"] == "line.stopped" and "text" not in generic.json
    assert verifies(KEY, slack) and verifies(KEY, generic)
    assert slack.headers["X-Andon-Delivery"] != generic.headers["X-Andon-Delivery"]
    targets = sorted((d.target.value, d.status.value) for d in notifier.deliveries())
    assert targets == [("generic", "delivered"), ("slack", "delivered")]


def test_deliveries_keep_their_order_and_the_last_n(receiver: Receiver) -> None:
    notifier = Notifier(webhook_url=receiver.url(), kept=3)

    for number in range(5):
        notifier.send("drift.found", f"drift {number}", {"number": number}, at=AT)
    notifier.flush()

    assert [r.json["number"] for r in receiver.taken()] == [0, 1, 2, 3, 4]
    assert [d.event for d in notifier.deliveries()] == ["drift.found"] * 3


def test_the_api_lists_deliveries_newest_first_naming_the_receiver_by_host_only(
    receiver: Receiver, andon_home: Path
) -> None:
    receiver.script = [200, 404]
    secret_url = receiver.url("/services/T0/B0/the-secret-part")
    settings = Settings.from_env({"ANDON_HOME": str(andon_home), "ANDON_WEBHOOK_URL": secret_url})
    with open_store(settings.database_url) as store:
        app = create_app(settings, store, controllers=False)
        notifier: Notifier = app.state.notifier
        notifier.send("flag.killed", "first", {"project": "shop"}, at=AT)
        notifier.send("drift.found", "second", {"project": "shop"}, at=AT)
        notifier.flush()
        with TestClient(app, headers=bearer(settings, store)) as client:
            answer = client.get("/api/v1/webhooks/deliveries")

    assert answer.status_code == 200
    second, first = answer.json()
    assert (second["event"], second["status"], second["last_error"]) == (
        "drift.found",
        "failed",
        "HTTP 404",
    )
    assert (first["event"], first["status"], first["attempts"]) == ("flag.killed", "delivered", 1)
    assert first["target"] == "generic" and first["host"] == receiver.base.removeprefix("http://")
    assert first["at"].endswith("Z")
    assert "the-secret-part" not in answer.text
    assert "the-secret-part" not in repr(settings)


def test_the_settings_read_the_webhook_variables_and_never_show_the_url_or_the_key(
    andon_home: Path,
) -> None:
    settings = Settings.from_env(
        {
            "ANDON_HOME": str(andon_home),
            "ANDON_NOTIFY_URL": "https://hooks.example/services/T0/B0/slack-secret",
            "ANDON_WEBHOOK_URL": "https://ci.example/andon?token=query-secret",
            "ANDON_WEBHOOK_SIGNING_KEY": KEY,
        }
    )

    notifier = Notifier.from_settings(settings)

    assert notifier.webhook_url == "https://ci.example/andon?token=query-secret"
    assert settings.webhook_signing_key == KEY
    for secret in ("slack-secret", "query-secret", KEY):
        assert secret not in repr(settings)


# -- events from the server -------------------------------------------------------------------


class Clock:
    """The controller's time, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Tiny:
    """The tiny service's server on a fake runtime, telling ``receiver``."""

    service: Any
    lifecycle: EnvironmentLifecycle
    fake: FakeRuntime
    clock: Clock
    app: FastAPI
    tmp: Path

    async def up(self, name: str) -> None:
        spec = load_spec(self.service.repo)
        self.lifecycle.vault.set(spec, "tiny", name, "TOKEN", "a-token-long-enough")
        order = self.lifecycle.compose(project="tiny", name=name, artifact=self.service.artifact)
        self.lifecycle.begin(order)
        record = await self.lifecycle.up(order)
        assert record.status is EnvironmentStatus.READY, record.message

    def release(self, spec: Callable[[str], str] = lambda text: text) -> str:
        """A green trunk release of a change to app.py and andon.yaml; its artifact."""
        text = (self.service.repo / "andon.yaml").read_text()
        changes = {"app.py": f"print('{uuid.uuid4()}')\n", "andon.yaml": spec(text)}
        out = self.tmp / f"built-{uuid.uuid4().hex[:8]}"
        return str(self.service.release(changes, "a change", out)[1])

    async def deploy(self, api: httpx.AsyncClient, environment: str, artifact: str) -> int:
        answer = await api.post(
            f"/projects/tiny/environments/{environment}/rollouts",
            json={"artifact": artifact, "by": "ann"},
        )
        assert answer.status_code == 201, answer.text
        return int(answer.json()["id"])

    async def finish(self, rollout_id: int) -> RolloutRecord:
        """Tick the rollout, 5 s of the fake clock apart, until it ends."""
        controller = self.app.state.rollouts
        deadline = time.monotonic() + 4
        while True:
            record: RolloutRecord = await controller.tick(rollout_id)
            if record.status.finished:
                return record
            assert time.monotonic() < deadline, record.message
            self.clock.now += timedelta(seconds=5)
            await asyncio.sleep(0.01)

    def run(self, scenario: Callable[[httpx.AsyncClient], Any]) -> None:
        async def main() -> None:
            transport = httpx.ASGITransport(app=self.app)
            try:
                async with httpx.AsyncClient(
                    transport=transport,
                    base_url="http://andon/api/v1",
                    headers=bearer(self.service.settings, self.service.store),
                ) as api:
                    await scenario(api)
            finally:
                await self.app.state.rollouts.stop()

        asyncio.run(main())


@pytest.fixture
def tiny(tiny_service: Any, receiver: Receiver, tmp_path: Path) -> Tiny:
    fake, clock = FakeRuntime(), Clock()
    lifecycle = EnvironmentLifecycle(
        tiny_service.store,
        tiny_service.settings,
        runtimes=lambda kind: fake,
        clock=clock,
        await_router=False,
        poll_interval=0.01,
    )
    settings = replace(
        tiny_service.settings,
        notify_url=receiver.url("/slack"),
        webhook_url=receiver.url("/generic"),
        webhook_signing_key=KEY,
    )
    app = create_app(settings, tiny_service.store, controllers=False, lifecycle=lifecycle)
    return Tiny(tiny_service, lifecycle, fake, clock, app, tmp_path)


def test_a_real_rollout_reaches_the_receiver_as_started_then_promoted(
    tiny: Tiny, receiver: Receiver
) -> None:
    found: dict[str, Any] = {}

    async def scenario(api: httpx.AsyncClient) -> None:
        await tiny.up("test")
        rollout_id = await tiny.deploy(api, "test", tiny.release(lambda text: text + QUICK))
        found["record"] = await tiny.finish(rollout_id)

    tiny.run(scenario)

    record = found["record"]
    assert record.status.value == "succeeded", record.message
    wanted = ["rollout.started", "rollout.promoted"]
    wait_until(lambda: receiver.events("/generic") == wanted, f"{wanted} at /generic")
    wait_until(lambda: receiver.events("/slack") == wanted, f"{wanted} at /slack")
    started, promoted = receiver.taken("/generic")
    assert all(verifies(KEY, r) for r in receiver.taken())
    assert promoted.json | {"at": None} == {
        "event": "rollout.promoted",
        "at": None,
        "project": "tiny",
        "environment": "test",
        "rollout_id": record.id,
        "strategy": "recreate",
        "version": record.to_version,
        "from_version": record.from_version,
        "by": "admin",
        "message": promoted.json["message"],
    }
    assert promoted.json["message"].startswith(f"finished: {record.to_version}")
    assert started.json["version"] == record.to_version and started.json["strategy"] == "recreate"
    # The controller's (fake) clock: events are dated when they happened in the rollout.
    assert datetime.fromisoformat(started.json["at"]) < datetime.fromisoformat(promoted.json["at"])
    slack = receiver.taken("/slack")[0].json["text"]
    assert slack.startswith(f":rocket: tiny/test: rollout #{record.id} started: ")


def test_a_rollout_whose_smoke_tests_fail_is_told_as_rolled_back_with_its_outcome(
    tiny: Tiny, receiver: Receiver
) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await tiny.up("test")
        (tiny.service.repo / "smoke.sh").write_text("echo 'checkout answered 500'; exit 1\n")
        rollout_id = await tiny.deploy(api, "test", tiny.release())
        assert (await tiny.finish(rollout_id)).status.value == "failed"

    tiny.run(scenario)

    wanted = ["rollout.started", "rollout.rolled_back"]
    wait_until(lambda: receiver.events("/generic") == wanted, f"{wanted} at /generic")
    rolled_back = receiver.taken("/generic")[1].json
    assert rolled_back["outcome"] == "failed"
    assert "checkout answered 500" in rolled_back["message"]
    wait_until(lambda: len(receiver.taken("/slack")) == 2, "the Slack messages")
    assert receiver.taken("/slack")[1].json["text"].startswith(":x: tiny/test: rollout #")


def test_a_rollout_waiting_for_approval_in_a_protected_environment_is_told(
    tiny: Tiny, receiver: Receiver
) -> None:
    def required(text: str) -> str:
        return text.replace(
            "prod: {protected: true}", "prod: {protected: true, approval: required}"
        )

    async def scenario(api: httpx.AsyncClient) -> None:
        await tiny.up("prod")
        rollout_id = await tiny.deploy(api, "prod", tiny.release(required))
        wait_until(lambda: receiver.events("/generic") == ["approval.requested"], "the ask")
        record = await tiny.app.state.rollouts.tick(rollout_id)
        assert record.state["rollout"]["phase"] == "pending"

    tiny.run(scenario)

    (asked,) = receiver.taken("/generic")
    assert (asked.json["project"], asked.json["environment"], asked.json["by"]) == (
        "tiny",
        "prod",
        "admin",
    )
    wait_until(lambda: len(receiver.taken("/slack")) == 1, "the Slack message")
    text = receiver.taken("/slack")[0].json["text"]
    assert text.startswith(":raised_hand: tiny/prod: rollout #") and "waits for approval" in text
    assert "'andon rollout approve prod'" in text


def test_new_drift_is_told_once_and_not_again_at_each_check(tiny: Tiny, receiver: Receiver) -> None:
    notifier = tiny.app.state.notifier
    checker = DriftChecker(
        tiny.service.store,
        tiny.lifecycle,
        EnvironmentOperations(),
        interval=60,
        notifier=notifier,
    )

    async def scenario(api: httpx.AsyncClient) -> None:
        await tiny.up("test")
        now = datetime.now(UTC)
        assert await checker.tick(now) == [("tiny", "test")]
        tiny.fake.crash("tiny.test.web-1", loop=True)
        assert await checker.tick(now + timedelta(minutes=2)) == [("tiny", "test")]
        assert await checker.tick(now + timedelta(minutes=4)) == [("tiny", "test")]

    tiny.run(scenario)
    notifier.flush()

    assert receiver.events("/generic") == ["drift.found"]
    drift = receiver.taken("/generic")[0].json["drift"]
    assert [item["kind"] for item in drift] == ["instance_count", "instance"]
    text = receiver.taken("/slack")[0].json["text"]
    assert text.startswith(":mag: tiny/test has drifted from its declaration: ")


FLAGS = "/api/v1/projects/shop/environments/prod/flags"
CHECKOUT = {
    "state": "ENABLED",
    "variants": {"on": True, "off": False},
    "defaultVariant": "on",
    "targeting": {},
}


@pytest.fixture
def shop(andon_home: Path) -> Iterator[Store]:
    with open_store(Settings.from_env().database_url) as store:
        store.projects.add(
            name="shop",
            source="/src/shop",
            subdir="",
            trunk="main",
            service="shop",
            commit="a" * 40,
            spec={"service": {"name": "shop"}, "environments": {"prod": {}}},
        )
        yield store


def test_a_flag_killed_through_the_api_reaches_the_receiver_once(
    receiver: Receiver, shop: Store
) -> None:
    settings = replace(
        Settings.from_env(), notify_url=receiver.url("/slack"), webhook_url=receiver.url("/generic")
    )
    app = create_app(settings, shop, controllers=False)
    with TestClient(app, headers=bearer(settings, shop)) as client:
        assert client.put(f"{FLAGS}/new-checkout", json={"flag": CHECKOUT}).status_code == 200

        killed = client.post(f"{FLAGS}/new-checkout/kill", json={"by": "bob", "reason": "errors"})
        assert killed.status_code == 200, killed.text
        wait_until(lambda: receiver.events("/generic") == ["flag.killed"], "the kill")
        # Killed again: nothing changed, nothing told.
        assert client.post(f"{FLAGS}/new-checkout/kill", json={}).status_code == 200
        app.state.notifier.flush()

    assert receiver.events("/generic") == ["flag.killed"]
    body = receiver.taken("/generic")[0].json
    assert {k: body[k] for k in ("project", "environment", "flag", "variant", "actor")} == {
        "project": "shop",
        "environment": "prod",
        "flag": "new-checkout",
        "variant": "off",
        "actor": "admin",
    }
    assert receiver.taken("/slack")[0].json["text"] == (
        ":octagonal_sign: shop/prod: flag new-checkout killed by admin: errors"
    )


def test_a_guard_that_fires_is_told_with_its_reason_and_evidence(receiver: Receiver) -> None:
    notifier = Notifier(receiver.url("/slack"), webhook_url=receiver.url("/generic"))
    tripped = NewFlagHistory(
        FlagChangeKind.GUARD_TRIPPED,
        "new-checkout",
        "guard",
        "guard 0 tripped: error_rate 12% > 5%; serving off",
        before={"flag": CHECKOUT},
        after={"flag": {**CHECKOUT, "defaultVariant": "off"}},
        evidence={"value": 0.12, "max": 0.05},
    )

    notifier.guard_fired("shop", "prod", tripped, AT)
    notifier.flush()

    body = receiver.taken("/generic")[0].json
    assert (body["event"], body["flag"], body["variant"]) == ("guard.fired", "new-checkout", "off")
    assert body["evidence"] == {"value": 0.12, "max": 0.05}
    assert receiver.taken("/slack")[0].json["text"] == (
        ":shield: shop/prod: flag new-checkout: guard 0 tripped: error_rate 12% > 5%; serving off"
    )
