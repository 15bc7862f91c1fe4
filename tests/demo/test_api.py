"""The demo's client of the server: an error answer becomes the server's own sentence
with its status; a wait returns the first truthy answer, or says what it saw at the end."""

from __future__ import annotations

import httpx
import pytest

from andon.demo import DemoError
from andon.demo.api import DemoApi, RefusedError, wait_for


def server(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/api/v1/projects/shop/environments/prod/rollouts":
        message = "the line is stopped since 10:05 UTC: trunk is red; 'prod' is protected."
        return httpx.Response(409, json={"error": {"code": "conflict", "message": message}})
    if request.url.path == "/api/v1/health":
        assert request.headers["authorization"] == "Bearer t0ken"
        return httpx.Response(200, json={"status": "ok"})
    return httpx.Response(502, text="bad gateway")


def api() -> DemoApi:
    return DemoApi("http://andon", "t0ken", transport=httpx.MockTransport(server))


def test_answers_are_decoded_and_refusals_carry_the_servers_sentence() -> None:
    client = api()
    assert client.get("/health") == {"status": "ok"}
    with pytest.raises(RefusedError) as refused:
        client.post("/projects/shop/environments/prod/rollouts", {"artifact": "sha256:1"})
    assert refused.value.status == 409
    assert refused.value.message.startswith("the line is stopped since 10:05 UTC")
    with pytest.raises(RefusedError, match="GET /other answered HTTP 502"):
        client.get("/other")
    client.close()


class Time:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_wait_returns_the_first_truthy_answer() -> None:
    time, answers = Time(), iter([None, 0, {"phase": "succeeded"}])
    found = wait_for(
        "the rollout", lambda: next(answers), timeout=5, clock=time.clock, sleep=time.sleep
    )
    assert found == {"phase": "succeeded"} and time.now == pytest.approx(0.4)


def test_a_wait_that_times_out_says_what_it_saw() -> None:
    time = Time()
    with pytest.raises(DemoError) as failed:
        wait_for(
            "rollout #3 to end",
            lambda: None,
            timeout=2,
            state=lambda: "it is paused: analysis inconclusive",
            clock=time.clock,
            sleep=time.sleep,
        )
    assert failed.value.message == (
        "rollout #3 to end did not happen within 2s; it is paused: analysis inconclusive"
    )
