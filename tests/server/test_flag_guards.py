"""Metric guards of flags, judged by the server: the guard controller over a real store,
the tiny service's environment on a fake runtime whose router counts what each test
serves, and a fake clock the test moves 2 s per look. A breach of the error rate over
the window trips the flag (the SDKs get the fallback, the history the evidence); too
little traffic never trips; the flag comes back only after the metric has stayed
half-way back for the recovery; a person's kill or change wins; a restarted controller
keeps the hold; a router that does not answer decides nothing. One test goes through a
real agent's router."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from andon.agent import read_token, spawn_agent
from andon.analysis import LatencyHistogram
from andon.environments import EnvironmentLifecycle
from andon.errors import AndonError
from andon.runtimes import FakeRuntime, InstanceSpec, LocalRuntime
from andon.server import create_app
from andon.server.flag_edits import FlagEdit, Who
from andon.server.flag_guard_looks import (
    GuardAction,
    Standing,
    WindowCounts,
    assess_look,
    decide_guards,
)
from andon.server.flag_guarding import FlagGuardController
from andon.server.flagging import FlagService
from andon.settings import Settings
from andon.spec.flag_guards import MetricWatch
from andon.store import EnvironmentKind, EnvironmentStatus, FlagChangeKind, Store
from andon.testing import kill_agent_leftovers

KEY = "new-checkout"
CHECKOUT = {"variants": {"on": True, "off": False}, "defaultVariant": "on", "targeting": {}}
ERROR_GUARD = {
    "metric": {"provider": "router", "query": "error_rate", "max": "2%"},
    "window": "10s",
    "recovery": "20s",
    "fallback": "off",
}
STEP = 2.0
"""Seconds of the fake clock between two looks, as the controller's interval."""


@dataclass
class Guarded:
    """The tiny service's ``test`` environment with a guarded flag, its router's counts,
    the fake clock and the guard controller."""

    store: Store
    flags: FlagService
    lifecycle: EnvironmentLifecycle
    fake: FakeRuntime
    now: datetime
    controller: FlagGuardController
    ok: int = 0
    errors: int = 0

    async def look(self, ok: int = 0, errors: int = 0) -> list[tuple[str, str, str, str]]:
        """``STEP`` seconds pass in which the router answers ``ok`` and ``errors``
        requests; then the controller looks."""
        self.now += timedelta(seconds=STEP)
        self.ok, self.errors = self.ok + ok, self.errors + errors
        requests = {"2xx": self.ok, "5xx": self.errors}
        self.fake.count_traffic("tiny.test", {"versions": {"v1": {"requests": requests}}})
        return await self.controller.tick(self.now)

    async def looks(self, count: int, ok: int, errors: int) -> list[tuple[str, str, str, str]]:
        changes = []
        for _ in range(count):
            changes += await self.look(ok, errors)
        return changes

    def serves(self) -> str | None:
        """The variant the SDKs get now."""
        flag_set = self.flags.published("tiny", "test").flag_set
        return flag_set.evaluate(KEY, False, {"targetingKey": "u1"}).variant

    def kinds(self) -> list[str]:
        """The flag's history, oldest first."""
        return [
            entry.kind.value for entry in reversed(self.flags.history("tiny", "test", flag=KEY))
        ]

    def restarted(self) -> FlagGuardController:
        """A new controller over the same store, as after a server restart."""
        self.controller = FlagGuardController(self.store, self.lifecycle, self.flags)
        return self.controller


@pytest.fixture
def guarded(tiny_service: Any) -> Iterator[Callable[[Callable[[Guarded], Awaitable[None]]], None]]:
    """Runs a scenario over a ready ``test`` environment whose flag ``new-checkout``
    (serving ``on``) has an error-rate guard: max 2% over 10s, recovery 20s."""

    def run(scenario: Callable[[Guarded], Awaitable[None]]) -> None:
        async def main() -> None:
            fake = FakeRuntime()
            lifecycle = EnvironmentLifecycle(
                tiny_service.store,
                tiny_service.settings,
                runtimes=lambda kind: fake,
                await_router=False,
                poll_interval=0.01,
            )
            order = lifecycle.compose(project="tiny", name="test", artifact=tiny_service.artifact)
            lifecycle.vault.set(order.spec, "tiny", "test", "TOKEN", "a-long-enough-token")
            lifecycle.begin(order)
            assert (await lifecycle.up(order)).status is EnvironmentStatus.READY
            flags = FlagService(tiny_service.store)
            entry = {"flag": CHECKOUT, "guards": [ERROR_GUARD]}
            flags.put("tiny", "test", KEY, entry, Who("ann"))
            controller = FlagGuardController(tiny_service.store, lifecycle, flags)
            world = Guarded(
                tiny_service.store, flags, lifecycle, fake, datetime.now(UTC), controller
            )
            assert await world.look() == []  # the first snapshot: no window yet
            await scenario(world)

        asyncio.run(main())

    yield run


async def tripped(world: Guarded) -> None:
    """Healthy traffic for a window, then 20% errors: 4% over the window, at once."""
    assert await world.looks(5, ok=50, errors=0) == []
    assert await world.look(ok=40, errors=10) == [("tiny", "test", KEY, "tripped")]


def test_an_error_rate_over_its_bound_trips_the_flag_to_its_fallback_with_evidence(
    guarded: Callable[[Callable[[Guarded], Awaitable[None]]], None],
) -> None:
    async def scenario(world: Guarded) -> None:
        assert world.serves() == "on"
        await tripped(world)
        assert world.serves() == "off"
        published = world.flags.published("tiny", "test").body
        assert published["flags"]["flags"][KEY]["defaultVariant"] == "off"
        entry = world.flags.history("tiny", "test", flag=KEY, limit=1)[0]
        assert entry.kind is FlagChangeKind.GUARD_TRIPPED and entry.actor == "guard"
        # 10 errors among the 250 requests of the last 10 s.
        assert entry.evidence | {"at": None} == {
            "guard": 0,
            "metric": "error_rate",
            "value": 0.04,
            "bound": "max",
            "threshold": 0.02,
            "requests": 250,
            "window": 10.0,
            "at": None,
        }
        assert entry.reason == (
            "guard 0 tripped: error_rate 4% over the last 10s is above max 2% "
            "(250 requests); serving off"
        )
        record = world.flags.get("tiny", "test")
        held = record.content.held[KEY]
        assert held["by"] == "guard" and held["before"] == CHECKOUT
        (state,) = world.flags.reports.guard_states("tiny", "test", KEY, [ERROR_GUARD], held)
        assert state["state"] == "tripped" and state["tripped_clients"] == []
        # Still breached: nothing more is written.
        assert await world.looks(3, ok=40, errors=10) == []
        assert world.kinds() == ["set", "guard_tripped"]

    guarded(scenario)


def test_too_little_traffic_never_trips_however_bad_it_is(
    guarded: Callable[[Callable[[Guarded], Awaitable[None]]], None],
) -> None:
    async def scenario(world: Guarded) -> None:
        # Every request fails, but 10 s hold 10 of them: fewer than the 20 needed.
        assert await world.looks(15, ok=0, errors=2) == []
        assert world.serves() == "on"
        assert world.kinds() == ["set"]

    guarded(scenario)


def test_the_flag_is_restored_only_after_staying_half_way_back_for_the_recovery(
    guarded: Callable[[Callable[[Guarded], Awaitable[None]]], None],
) -> None:
    async def scenario(world: Guarded) -> None:
        await tripped(world)
        # 1.5%: under the 2% bound, above its half-way level of 1%, for longer than the
        # 20 s recovery: the flag stays tripped.
        assert await world.looks(20, ok=197, errors=3) == []
        assert world.serves() == "off"
        # 0.5% from now on: the 10 s window is under 1% at the third look (6 s), so the
        # flag comes back 20 s after that, not a look earlier.
        assert await world.looks(12, ok=199, errors=1) == []
        assert world.serves() == "off"
        assert await world.look(ok=199, errors=1) == [("tiny", "test", KEY, "restored")]
        assert world.serves() == "on"
        entry = world.flags.history("tiny", "test", flag=KEY, limit=1)[0]
        assert entry.kind is FlagChangeKind.GUARD_RESTORED
        assert entry.evidence["healthy_for"] == 20.0
        assert entry.evidence["level"] == {"max": 0.01}
        assert entry.evidence["value"] == pytest.approx(0.005)
        assert "has stayed at or below 1%" in entry.reason
        assert world.flags.get("tiny", "test").content.held == {}
        assert world.kinds() == ["set", "guard_tripped", "guard_restored"]

    guarded(scenario)


def test_a_killed_flag_is_left_alone_by_its_guard(
    guarded: Callable[[Callable[[Guarded], Awaitable[None]]], None],
) -> None:
    async def scenario(world: Guarded) -> None:
        world.flags.kill("tiny", "test", KEY, Who("ann", "orders fall"))
        assert await world.looks(5, ok=50, errors=50) == []
        # Tripped first, then killed: a healthy metric does not end the person's kill,
        # and their restore brings back what ran before the guard.
        world.flags.restore("tiny", "test", KEY, Who("ann"))
        assert await world.look(ok=50, errors=50) == [("tiny", "test", KEY, "tripped")]
        world.flags.kill("tiny", "test", KEY, Who("ann", "orders fall"))
        assert await world.looks(30, ok=100, errors=0) == []
        assert world.serves() == "off"
        world.flags.restore("tiny", "test", KEY, Who("ann"))
        assert world.serves() == "on"
        assert world.kinds() == ["set", "killed", "restored", "guard_tripped", "killed", "restored"]

    guarded(scenario)


def test_a_persons_change_ends_the_guards_hold_which_trips_again_while_breached(
    guarded: Callable[[Callable[[Guarded], Awaitable[None]]], None],
) -> None:
    async def scenario(world: Guarded) -> None:
        await tripped(world)
        world.flags.edit("tiny", "test", KEY, FlagEdit(variant="on"), Who("ann", "not the flag"))
        entry = world.flags.history("tiny", "test", flag=KEY, limit=1)[0]
        assert entry.kind is FlagChangeKind.SET
        assert entry.evidence["released"] | {"since": None} == {
            "by": "guard",
            "guard": 0,
            "since": None,
        }
        assert world.serves() == "on"
        assert await world.look(ok=40, errors=10) == [("tiny", "test", KEY, "tripped")]

    guarded(scenario)


def test_a_restarted_controller_keeps_the_hold_and_recovers_from_its_first_healthy_look(
    guarded: Callable[[Callable[[Guarded], Awaitable[None]]], None],
) -> None:
    async def scenario(world: Guarded) -> None:
        await tripped(world)
        # Healthy for 16 of the 20 s of recovery, then the server restarts.
        assert await world.looks(8, ok=200, errors=0) == []
        world.restarted()
        assert await world.look(ok=200, errors=0) == []  # its first snapshot
        assert world.serves() == "off"
        assert world.flags.get("tiny", "test").content.held[KEY]["by"] == "guard"
        # Its first window is healthy; the recovery counts from there, in full.
        assert await world.looks(10, ok=200, errors=0) == []
        assert await world.look(ok=200, errors=0) == [("tiny", "test", KEY, "restored")]
        assert world.kinds() == ["set", "guard_tripped", "guard_restored"]

    guarded(scenario)


def test_a_router_that_does_not_answer_decides_nothing_and_is_logged_once(
    guarded: Callable[[Callable[[Guarded], Awaitable[None]]], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario(world: Guarded) -> None:
        assert await world.looks(5, ok=50, errors=0) == []
        world.fake.reachable = False
        with caplog.at_level(logging.WARNING, logger="andon.server.guards"):
            assert await world.looks(10, ok=0, errors=100) == []
        assert world.serves() == "on"
        said = [r.getMessage() for r in caplog.records if r.name == "andon.server.guards"]
        assert len(said) == 1 and "decide nothing" in said[0], said
        # Back: what it counted meanwhile is judged at the next look.
        world.fake.reachable = True
        assert await world.look() == [("tiny", "test", KEY, "tripped")]

    guarded(scenario)


def test_the_server_runs_the_guards_by_itself_and_a_breach_flips_the_flag_in_seconds(
    tiny_service: Any,
) -> None:
    fake = FakeRuntime()
    lifecycle = EnvironmentLifecycle(
        tiny_service.store,
        tiny_service.settings,
        runtimes=lambda kind: fake,
        await_router=False,
        poll_interval=0.01,
    )
    order = lifecycle.compose(project="tiny", name="test", artifact=tiny_service.artifact)
    lifecycle.vault.set(order.spec, "tiny", "test", "TOKEN", "a-long-enough-token")
    lifecycle.begin(order)
    assert asyncio.run(lifecycle.up(order)).status is EnvironmentStatus.READY
    app = create_app(tiny_service.settings, tiny_service.store, lifecycle=lifecycle)
    flags: FlagService = app.state.flags
    flags.put("tiny", "test", KEY, {"flag": CHECKOUT, "guards": [ERROR_GUARD]}, Who("ann"))

    def serves() -> str | None:
        flag_set = flags.published("tiny", "test").flag_set
        return flag_set.evaluate(KEY, False, {"targetingKey": "u1"}).variant

    with TestClient(app):
        # The controller's first look holds no errors; then half of 100 requests fail.
        deadline = time.monotonic() + 10
        while app.state.flag_guards.looked_at is None:
            assert time.monotonic() < deadline, "the guard controller never looked"
            time.sleep(0.01)
        fake.count_traffic("tiny.test", {"versions": {"v1": {"requests": {"5xx": 50, "2xx": 50}}}})
        counted = time.monotonic()
        while serves() != "off":
            assert time.monotonic() < counted + 10, "the guard never tripped"
            time.sleep(0.01)
        # Its period is 2 s: the flag flips at the next look (a busy machine may add some).
        assert time.monotonic() - counted < 2 + 3


# -- judging, pure ---------------------------------------------------------------------


def watch(**fields: Any) -> MetricWatch:
    return MetricWatch.model_validate(fields)


@pytest.mark.parametrize(
    ("fields", "counts", "standing"),
    [
        ({"query": "error_rate", "max": "2%"}, (1000, 21), Standing.BREACHED),
        ({"query": "error_rate", "max": "2%"}, (1000, 20), Standing.BETWEEN),
        ({"query": "error_rate", "max": "2%"}, (1000, 10), Standing.HEALTHY),
        ({"query": "error_rate", "max": "2%"}, (19, 19), Standing.UNKNOWN),
        ({"query": "request_rate", "min": 10}, (90, 0), Standing.BREACHED),
        ({"query": "request_rate", "min": 10}, (140, 0), Standing.BETWEEN),
        ({"query": "request_rate", "min": 10}, (150, 0), Standing.HEALTHY),
        ({"query": "request_rate", "min": 10, "max": 100}, (600, 0), Standing.BETWEEN),
    ],
)
def test_a_look_stands_breached_between_healthy_or_unknown(
    fields: dict[str, Any], counts: tuple[int, int], standing: Standing
) -> None:
    requests, errors = counts
    look = assess_look(0, watch(**fields), WindowCounts(requests, errors, None, 10.0), 20)
    assert look.standing is standing


def test_latency_is_judged_on_the_windows_histogram_quantile() -> None:
    # 100 requests: 98 under 100 ms, 2 between 500 ms and 1 s.
    histogram = LatencyHistogram((0.1, 0.5, 1.0), (98, 0, 2, 0))
    counts = WindowCounts(100, 0, histogram, 10.0)
    p99 = assess_look(1, watch(query="latency_p99", max="800ms"), counts, 20)
    assert p99.standing is Standing.BETWEEN and p99.value == pytest.approx(0.75)
    p95 = assess_look(1, watch(query="latency_p95", max="800ms"), counts, 20)
    assert p95.standing is Standing.HEALTHY


def test_a_recovery_needs_every_guard_unbreached_and_unknown_looks_keep_the_clock() -> None:
    error = watch(query="error_rate", max="2%")
    healthy = assess_look(0, error, WindowCounts(1000, 0, None, 10.0), 20)
    unknown = assess_look(0, error, WindowCounts(5, 5, None, 10.0), 20)
    breached = assess_look(1, error, WindowCounts(1000, 500, None, 10.0), 20)
    quiet = assess_look(1, error, WindowCounts(1000, 0, None, 10.0), 20)
    held = {"by": "guard", "guard": 0}
    recovery = {0: 20.0, 1: 20.0}
    kept = decide_guards([unknown, quiet], recovery, held, {0: 100.0}, 130.0)
    assert kept.action is None and kept.healthy_since == {0: 100.0, 1: 130.0}
    assert decide_guards([healthy, breached], recovery, held, {0: 100.0}, 130.0).action is None
    done = decide_guards([healthy, quiet], recovery, held, {0: 100.0}, 130.0)
    assert (done.action, done.guard) == (GuardAction.RESTORE, 0)
    killed = decide_guards([breached], recovery, {"by": "kill"}, {}, 130.0)
    assert killed.action is None


# -- through a real agent's router -----------------------------------------------------

FAILING_APP = """\
import http.server, os

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status = 500 if self.path.startswith("/fail") else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real ``andon agent``: its URL and token."""
    state, port = tmp_path / "agent" / "state", free_port()
    process = spawn_agent(state, admin_port=port, log=tmp_path / "agent.log", drain_seconds=0)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, (tmp_path / "agent.log").read_text()
            assert time.monotonic() < deadline, "the agent did not start"
            try:
                token = read_token(state)
                if httpx.get(f"{url}/v1/health", headers={"Authorization": f"Bearer {token}"}):
                    break
            except (httpx.HTTPError, AndonError):
                pass
            time.sleep(0.05)
        yield url, token
    finally:
        process.terminate()
        process.wait(timeout=10)
        kill_agent_leftovers(state)


async def counted(
    url: str, token: str, customers: httpx.AsyncClient, path: str | None, total: int
) -> None:
    """Until the router has counted ``total`` requests (asking ``path`` meanwhile, for a
    router that may not listen yet)."""
    runtime = LocalRuntime(url, token)
    deadline = time.monotonic() + 15
    try:
        while True:
            if path is not None:
                with contextlib.suppress(httpx.HTTPError):
                    await customers.get(path)
            versions = (await runtime.traffic("shop.prod"))["versions"]
            if sum(sum(v["requests"].values()) for v in versions.values()) >= total:
                return
            assert time.monotonic() < deadline, f"the router counted {versions}"
            await asyncio.sleep(0.02)
    finally:
        await runtime.close()


def test_a_breach_counted_by_a_real_agents_router_trips_the_flag(
    agent: tuple[str, str], tmp_path: Path, andon_home: Path
) -> None:
    url, token = agent
    release = tmp_path / "release"
    release.mkdir()
    (release / "app.py").write_text(FAILING_APP)
    listen = free_port()
    settings = Settings.from_env()

    async def main(store: Store) -> None:
        local = LocalRuntime(url, token)
        await local.ensure_environment(
            "shop.prod", listen_port=listen, routing={"process": "web", "weights": {"1.0": 100}}
        )
        spec = InstanceSpec(
            environment="shop.prod",
            version="1.0",
            process="web",
            command=f"{shlex.quote(sys.executable)} app.py",
            cwd=release,
            health_path="/health",
            stop_timeout=2.0,
        )
        instance = await local.start_instance(spec)
        deadline = time.monotonic() + 15
        while not await local.verify_instance(instance.id):
            assert time.monotonic() < deadline, "the instance never became ready"
            await asyncio.sleep(0.05)
        await local.close()
        lifecycle = EnvironmentLifecycle(
            store, settings, runtimes=lambda kind: LocalRuntime(url, token)
        )
        flags = FlagService(store)
        flags.put("shop", "prod", KEY, {"flag": CHECKOUT, "guards": [ERROR_GUARD]}, Who("ann"))
        controller = FlagGuardController(store, lifecycle, flags)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{listen}") as customers:
            await counted(url, token, customers, "/", 1)  # the router serves
            now = datetime.now(UTC)
            assert await controller.tick(now) == []
            for index in range(40):
                await customers.get("/fail" if index % 4 == 0 else "/")
            await counted(url, token, customers, None, 41)
        assert await controller.tick(now + timedelta(seconds=2)) == [
            ("shop", "prod", KEY, "tripped")
        ]
        entry = flags.history("shop", "prod", flag=KEY, limit=1)[0]
        # The 40 requests (a warm-up request counted late may join them), 10 failed.
        requests = entry.evidence["requests"]
        assert 40 <= requests <= 42 and entry.evidence["value"] == pytest.approx(10 / requests)

    from andon.store import open_store  # noqa: PLC0415 - the test's own store

    with open_store(settings.database_url) as store:
        store.projects.add(
            name="shop", source="/src/shop", subdir="", trunk="main", service="shop",
            commit="a" * 40, spec={"environments": {"prod": {}}},
        )  # fmt: skip
        store.environments.create(project="shop", name="prod", kind=EnvironmentKind.DECLARED)
        store.environments.update("shop", "prod", status=EnvironmentStatus.READY)
        asyncio.run(main(store))
