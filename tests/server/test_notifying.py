"""Notifications of the line's changes, delivered to a real HTTP server on 127.0.0.1 that
records what it is sent (a stand-in for a Slack incoming webhook)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from andon.pipeline import LineCause, LineChange
from andon.server import create_app, notifying
from andon.server.notifying import Notifier
from andon.settings import Settings
from andon.store import open_store
from andon.testing import bearer

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@dataclass
class Webhook:
    """What the webhook received, and how it answers: one status per request from
    ``statuses`` (then 200), after ``delay`` seconds."""

    url: str
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    attempts: int = 0


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(hook.delay)
            with lock:
                hook.attempts += 1
                status = hook.statuses.pop(0) if hook.statuses else 200
                if status == 200:
                    hook.bodies.append(json.loads(body))
                    hook.content_types.append(self.headers["Content-Type"])
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/services/T0/B0/x"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notifying, "RETRY_DELAYS", (0.01, 0.02, 0.03))


def stop(reason: str = "the checkout is broken") -> LineChange:
    return LineChange(
        stopped=True,
        cause=LineCause.PIPELINE,
        reason=reason,
        at=AT,
        commit="c0ffee" * 6 + "abcd",
        pipeline_id=7,
    )


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting after {timeout}s"
        time.sleep(0.02)


def test_a_stopped_line_is_posted_as_a_slack_compatible_message(webhook: Webhook) -> None:
    notifier = Notifier(webhook.url)
    notifier.line_changed("billing", stop())
    notifier.flush()

    (body,) = webhook.bodies
    assert webhook.content_types == ["application/json"]
    assert "billing" in body["text"] and "the checkout is broken" in body["text"]
    assert "stopped" in body["text"]
    assert body["andon"] == {
        "event": "line.stopped",
        "project": "billing",
        "reason": "the checkout is broken",
        "actor": "andon",
        "commit": "c0ffee" * 6 + "abcd",
        "pipeline_id": 7,
        "at": "2026-03-02T09:30:00+00:00",
    }


def test_a_restarted_line_is_posted_as_line_restarted(webhook: Webhook) -> None:
    notifier = Notifier(webhook.url)
    restart = LineChange(
        stopped=False, cause=LineCause.MANUAL, reason="resumed by ana", at=AT, actor="ana"
    )
    notifier.line_changed("billing", restart)
    notifier.flush()

    (body,) = webhook.bodies
    assert body["andon"]["event"] == "line.restarted" and body["andon"]["actor"] == "ana"
    assert "runs again" in body["text"] and "resumed by ana" in body["text"]


def test_a_failed_delivery_is_retried(webhook: Webhook) -> None:
    webhook.statuses = [500]
    notifier = Notifier(webhook.url)
    notifier.line_changed("billing", stop())
    notifier.flush()

    assert webhook.attempts == 2
    assert [b["andon"]["event"] for b in webhook.bodies] == ["line.stopped"]


def test_delivery_gives_up_after_the_last_retry_and_says_so(
    webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.statuses = [503] * 10
    notifier = Notifier(webhook.url)
    with caplog.at_level(logging.WARNING, logger="andon.server.notify"):
        notifier.line_changed("billing", stop())
        notifier.flush()

    assert webhook.attempts == len(notifying.RETRY_DELAYS) + 1
    assert webhook.bodies == []
    assert "HTTP 503" in caplog.text
    assert "gave up" in caplog.records[-1].getMessage()


def test_an_unreachable_webhook_never_raises_into_the_caller(port: int) -> None:
    notifier = Notifier(f"http://127.0.0.1:{port}/hook", timeout=1.0)
    notifier.line_changed("billing", stop())
    notifier.flush()


def test_flush_waits_for_deliveries_under_way(webhook: Webhook) -> None:
    webhook.delay = 0.3
    notifier = Notifier(webhook.url)
    notifier.line_changed("billing", stop("first"))
    notifier.line_changed("billing", stop("second"))
    assert webhook.bodies == []

    notifier.flush()

    assert sorted(b["andon"]["reason"] for b in webhook.bodies) == ["first", "second"]


def test_without_a_url_nothing_is_sent(webhook: Webhook) -> None:
    notifier = Notifier(None)
    notifier.line_changed("billing", stop())
    notifier.flush()
    assert webhook.attempts == 0


def test_stopping_and_resuming_the_line_through_the_api_notifies_the_webhook(
    webhook: Webhook, andon_home: Path, tmp_path: Path, repo_factory: Callable[..., Path]
) -> None:
    spec = "service: {name: billing}\nprocesses: {web: {command: x}}\nenvironments: {prod: {}}\n"
    repo = repo_factory(tmp_path / "billing", {"andon.yaml": spec})
    settings = Settings.from_env({"ANDON_HOME": str(andon_home), "ANDON_NOTIFY_URL": webhook.url})
    with (
        open_store(settings.database_url) as store,
        TestClient(
            create_app(settings, store, controllers=False), headers=bearer(settings, store)
        ) as client,
    ):
        assert client.post("/api/v1/projects", json={"source": str(repo)}).status_code == 201
        stopped = client.post(
            "/api/v1/projects/billing/line/stop", json={"reason": "db migration", "actor": "ana"}
        )
        assert stopped.status_code == 200
        wait_until(lambda: len(webhook.bodies) == 1)
        assert client.post("/api/v1/projects/billing/line/resume", json={}).status_code == 200
        wait_until(lambda: len(webhook.bodies) == 2)

    first, second = webhook.bodies
    assert first["andon"]["event"] == "line.stopped" and first["andon"]["actor"] == "admin"
    assert first["andon"]["reason"] == "db migration"
    assert second["andon"]["event"] == "line.restarted"
