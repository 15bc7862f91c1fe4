"""Rollouts through the server, fast: the rollouts API and the rollout controller over a
real store, real git and real artifacts of the tiny service, with a fake runtime that
keeps every split the router was given. Each test drives the controller tick by tick
with a fake clock (or runs it, and awaits what it waits for) through the faults the
deployments issue names: instances that never become healthy, failing migrations and
smoke tests, an unreachable metric source, two deploys at once, an artifact that does not
verify, ``undo`` with nothing to undo to, a stopped line, an agent and a server
restarted mid-rollout; and each strategy's good rollout and what it records."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from andon.environments import EnvironmentLifecycle
from andon.environments.declaring import version_label
from andon.errors import ServerUnreachableError
from andon.rollout import CommandKind
from andon.runtimes import FakeRuntime, InstanceStatus
from andon.server import create_app
from andon.server.rolling_out import RolloutController
from andon.spec import load_spec
from andon.store import (
    DeployEventKind,
    EnvironmentRecord,
    EnvironmentStatus,
    LineState,
    RolloutRecord,
    RolloutStatus,
)
from andon.testing import bearer, git, user_bearer

TOKEN = "a-token-that-is-long-enough-to-mask"
ENVIRONMENTS = "/projects/tiny/environments"

QUICK = """
release:
  strategy: {strategy}
  steps:
    - weight: 50%
    - pause: 10s
  rolling: {{batch: 1, wait: 5s}}
  blue_green: {{scale_down_delay: 20s}}
  finalize_delay: 10s
"""
"""A release section whose every strategy ends within a minute of the fake clock."""

ANALYSED = """
release:
  strategy: canary
  steps:
    - weight: 50%
    - analysis: {duration: 20s}
    - weight: 100%
  analysis:
    interval: 1s
    min_samples: 20
    metrics:
      - {name: errors, provider: router, query: error_rate, threshold: {max: 1%}}
  finalize_delay: 10s
"""
"""A canary judged by the router's error rate."""

JUDGED_BLUE_GREEN = """
release:
  strategy: blue-green
  analysis:
    interval: 1s
    min_samples: 20
    metrics:
      - name: errors
        provider: router
        query: error_rate
        threshold: {max: 1%}
        baseline: {max_increase: 100%}
  blue_green: {scale_down_delay: 20s}
"""
"""Blue-green whose warm period judges green against blue."""


class Clock:
    """The controller's and the deploys' time: still, moved by the test, until it is
    let run (for a controller that runs by itself)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)
        self._since: float | None = None

    def __call__(self) -> datetime:
        if self._since is None:
            return self.now
        return self.now + timedelta(seconds=time.monotonic() - self._since)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def run(self) -> None:
        """From now on, time passes by itself."""
        self._since = time.monotonic()


class RecordingRuntime(FakeRuntime):
    """The fake runtime, remembering every routing it was given, with a router whose
    traffic counters can stop answering on their own (a metric source down), and a
    server that can die while it routes."""

    def __init__(self) -> None:
        super().__init__()
        self.routings: dict[str, list[dict[str, Any]]] = {}
        self.traffic_down = False
        self.die_at: str | None = None
        """The call during which the server dies, once."""
        self.held: asyncio.Event | None = None
        """While set, asking for instances waits for it (a slow agent)."""
        self.holding = asyncio.Event()

    async def instances(self, environment: str) -> list[InstanceStatus]:
        if self.held is not None:
            self.holding.set()
            await self.held.wait()
        return await super().instances(environment)

    async def set_routing(self, environment: str, routing: Mapping[str, Any]) -> None:
        self._maybe_die("set_routing")
        await super().set_routing(environment, routing)
        self.routings.setdefault(environment, []).append(dict(routing))

    async def stop_instance(self, instance_id: str) -> InstanceStatus:
        self._maybe_die("stop_instance")
        return await super().stop_instance(instance_id)

    def _maybe_die(self, call: str) -> None:
        if self.die_at == call:
            self.die_at = None
            raise ServerKilled(f"the server was killed during {call}")

    async def traffic(self, environment: str) -> dict[str, Any]:
        if self.traffic_down:
            raise ServerUnreachableError(
                "the agent's /traffic does not answer (as the test asked)."
            )
        return await super().traffic(environment)


class ServerKilled(BaseException):
    """The server process ending mid-step (nothing of it catches that)."""


@dataclass(frozen=True)
class Release:
    """A commit of the tiny service and the artifact a green pipeline built from it."""

    commit: str
    artifact: str

    @property
    def label(self) -> str:
        """How the router and the instances name it."""
        return version_label(self.commit)


@dataclass
class World:
    """The tiny service's server, its fake runtime and clock, and what tests do to them."""

    tiny: Any
    tmp: Path
    fake: RecordingRuntime
    clock: Clock
    lifecycle: EnvironmentLifecycle
    app: FastAPI
    first: Release
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(2))

    @property
    def store(self) -> Any:
        return self.tiny.store

    @property
    def controller(self) -> RolloutController:
        return self.app.state.rollouts  # type: ignore[no-any-return]

    def run(self, scenario: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
        """Run ``scenario`` with a client of the API, on one event loop with the
        controller; the controller is stopped after, as the server's lifespan would."""

        async def main() -> None:
            transport = httpx.ASGITransport(app=self.app)
            try:
                async with httpx.AsyncClient(
                    transport=transport,
                    base_url="http://andon/api/v1",
                    headers=bearer(self.tiny.settings, self.store),
                ) as api:
                    await scenario(api)
            finally:
                await self.controller.stop()

        asyncio.run(main())

    async def up(self, name: str) -> EnvironmentRecord:
        """``andon env up NAME`` of the first release."""
        self.lifecycle.vault.set(load_spec(self.tiny.repo), "tiny", name, "TOKEN", TOKEN)
        order = self.lifecycle.compose(project="tiny", name=name, artifact=self.first.artifact)
        self.lifecycle.begin(order)
        record = await self.lifecycle.up(order)
        assert record.status is EnvironmentStatus.READY, record.message
        return record

    def release(
        self,
        *,
        release: str = "",
        files: Mapping[str, str] | None = None,
        spec: Callable[[str], str] | None = None,
        green: bool = True,
    ) -> Release:
        """Commit a change (andon.yaml's ``release`` section or any ``spec`` change,
        files) and build its artifact, as a pipeline on trunk would (green, or failed
        after it packaged the artifact)."""
        changes = dict(files or {})
        number = next(self._numbers)
        changes.setdefault("app.py", f"print('a tiny service, version {number}')\n")
        if release or spec:
            text = self.tiny_spec() + release
            changes["andon.yaml"] = spec(text) if spec else text
        commit, digest = self.tiny.release(
            changes, f"version {number}", self.tmp / f"built-{number}", green=green
        )
        return Release(commit, digest)

    def tiny_spec(self) -> str:
        """andon.yaml as the first release has it."""
        return git(self.tiny.repo, "show", f"{self.first.commit}:andon.yaml") + "\n"

    async def deploy(
        self, api: httpx.AsyncClient, environment: str, release: Release, **body: Any
    ) -> dict[str, Any]:
        """``andon deploy ENV --artifact ...``; the rollout as recorded."""
        answer = await api.post(
            f"{ENVIRONMENTS}/{environment}/rollouts",
            json={"artifact": release.artifact, "by": "ann", **body},
        )
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    async def tick_until(
        self,
        rollout_id: int,
        done: Callable[[RolloutRecord], bool],
        *,
        step: float = 5.0,
        timeout: float = 20.0,
    ) -> RolloutRecord:
        """Tick the rollout, ``step`` seconds of the fake clock apart, until ``done``;
        between ticks the checks it started (migrations, smoke tests) get to run."""
        limit = time.monotonic() + timeout
        while True:
            record = await self.controller.tick(rollout_id)
            if done(record):
                return record
            if time.monotonic() > limit:
                raise AssertionError(
                    f"rollout #{rollout_id} is {phase_of(record)}: {record.message}"
                )
            self.clock.advance(step)
            await asyncio.sleep(0.01)

    def routings(self, environment: str) -> list[dict[str, Any]]:
        """Every routing the environment's router was given, in order."""
        return self.fake.routings.get(f"tiny.{environment}", [])

    def routing(self, environment: str) -> dict[str, Any]:
        """The routing the environment's router has now."""
        return self.fake.environments[f"tiny.{environment}"].routing

    async def instances(self, environment: str) -> dict[str, str]:
        """The environment's instances now: id → phase."""
        found = await self.fake.instances(f"tiny.{environment}")
        return {status.id: status.phase.value for status in found}


async def settled(world: World, rollout_id: int, timeout: float = 20) -> RolloutRecord:
    """The rollout once it ended and its last actions were applied, with the controller
    running by itself."""
    limit = time.monotonic() + timeout
    while True:
        record: RolloutRecord = world.store.rollouts.get(rollout_id)
        if record.status.finished and not record.state.get("pending"):
            return record
        assert time.monotonic() < limit, f"rollout #{rollout_id}: {record.message}"
        await asyncio.sleep(0.02)


def phase_of(record: RolloutRecord) -> str:
    """The engine's phase of a rollout's record."""
    return str(record.state["rollout"]["phase"])


def in_phase(*phases: str) -> Callable[[RolloutRecord], bool]:
    return lambda record: phase_of(record) in phases


def analysing_now(record: RolloutRecord) -> bool:
    return record.state.get("analysis") is not None


def finished(record: RolloutRecord) -> bool:
    return record.status.finished


def weights_of(routing: Mapping[str, Any], release: Release) -> int:
    return int(routing.get("weights", {}).get(release.label, 0))


def error(answer: httpx.Response, status: int) -> str:
    """The one sentence of an error answer."""
    assert answer.status_code == status, answer.text
    message = answer.json()["error"]["message"]
    assert isinstance(message, str) and "\n" not in message and message.endswith("."), message
    return message


@pytest.fixture
def world(tiny_service: Any, tmp_path: Path) -> Iterator[World]:
    fake, clock = RecordingRuntime(), Clock()
    lifecycle = EnvironmentLifecycle(
        tiny_service.store,
        tiny_service.settings,
        runtimes=lambda kind: fake,
        clock=clock,
        await_router=False,
        poll_interval=0.01,
    )
    app = create_app(
        tiny_service.settings, tiny_service.store, controllers=False, lifecycle=lifecycle
    )
    first = Release(tiny_service.commit, tiny_service.artifact)
    yield World(tiny_service, tmp_path, fake, clock, lifecycle, app, first)


# -- deploy steps that fail: no traffic ever moves -----------------------------------------


def test_a_release_whose_instances_never_become_ready_fails_without_traffic(
    world: World,
) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        new = world.release(release=QUICK.format(strategy="canary"))
        world.fake.ready_at_once = False
        rollout = await world.deploy(api, "test", new)

        starting = await world.tick_until(rollout["id"], in_phase("starting"), step=0)
        assert "waiting" not in starting.message or new.commit in starting.message
        # Five minutes of a starting instance that never answers its health check.
        failed = await world.tick_until(rollout["id"], finished, step=60, timeout=10)

        assert failed.status is RolloutStatus.FAILED
        assert f"{new.commit} did not become ready within 5m" in failed.message
        assert f"no traffic moved to {new.commit}" in failed.message
        assert all(weights_of(routing, new) == 0 for routing in world.routings("test"))
        assert list(await world.instances("test")) == ["tiny.test.web-1"]

    world.run(scenario)


def test_a_release_in_a_crash_loop_fails_at_once_saying_why(world: World) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("staging")
        new = world.release(release=QUICK.format(strategy="blue-green"))
        world.fake.ready_at_once = False
        rollout = await world.deploy(api, "staging", new)
        await world.tick_until(rollout["id"], in_phase("starting"), step=0)
        world.fake.crash(
            f"tiny.staging.web-2.{new.label}", loop=True, log="ImportError: no module named x"
        )

        failed = await world.controller.tick(rollout["id"])

        assert failed.status is RolloutStatus.FAILED, failed.message
        assert f"1 instance of {new.commit} failed to start" in failed.message
        assert "exited with code 1" in failed.message
        assert all(weights_of(routing, new) == 0 for routing in world.routings("staging"))
        assert sorted(await world.instances("staging")) == [
            "tiny.staging.web-1",
            "tiny.staging.web-2",
        ]
        events = world.store.deploy_events.list("tiny", "staging")
        assert [event.kind for event in events] == [DeployEventKind.STARTED, DeployEventKind.FAILED]

    world.run(scenario)


def test_failing_migrations_fail_the_rollout_before_traffic_moves_with_their_log(
    world: World,
) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        broken = 'echo "applying 0002_orders"\necho "table orders exists already" >&2\nexit 1\n'
        new = world.release(files={"migrate.sh": broken})
        rollout = await world.deploy(api, "test", new)

        failed = await world.tick_until(rollout["id"], finished, step=1)

        assert failed.status is RolloutStatus.FAILED
        assert f"the migrations of {new.commit} failed" in failed.message
        assert "exited with code 1" in failed.message
        assert "table orders exists already" in failed.message
        assert f"no traffic moved to {new.commit}" in failed.message
        assert all(weights_of(routing, new) == 0 for routing in world.routings("test"))
        assert list(await world.instances("test")) == ["tiny.test.web-1"]

    world.run(scenario)


def test_failing_smoke_tests_fail_the_rollout_remove_the_route_and_stop_the_new_version(
    world: World,
) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        new = world.release(files={"smoke.sh": 'echo "checkout answered 500"; exit 1\n'})
        rollout = await world.deploy(api, "test", new)

        failed = await world.tick_until(rollout["id"], finished, step=1)

        assert failed.status is RolloutStatus.FAILED
        assert f"the smoke tests of {new.commit} failed" in failed.message
        assert "checkout answered 500" in failed.message
        routed = [r for r in world.routings("test") if r.get("routes")]
        assert routed and routed[0]["routes"][0]["version"] == new.label
        assert all(weights_of(routing, new) == 0 for routing in world.routings("test"))
        now = world.routing("test")
        assert not now.get("routes") and weights_of(now, world.first) == 100
        assert list(await world.instances("test")) == ["tiny.test.web-1"]

    world.run(scenario)


# -- the immune system ----------------------------------------------------------------------


def test_an_unreachable_metric_source_pauses_the_canary_and_never_promotes_it(
    world: World,
) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        new = world.release(release=ANALYSED)
        rollout = await world.deploy(api, "test", new)
        analysing = await world.tick_until(rollout["id"], analysing_now)
        assert weights_of(world.routing("test"), new) == 50
        world.fake.traffic_down = True

        paused = await world.tick_until(rollout["id"], in_phase("paused"), step=5)
        for _ in range(2):  # however long it waits, an unknown is never promoted
            world.clock.advance(600)
            paused = await world.controller.tick(rollout["id"])

        assert analysing.status is RolloutStatus.RUNNING
        assert paused.status is RolloutStatus.PAUSED, paused.message
        assert "inconclusive" in paused.message or "never promoted" in paused.message
        assert "router" in paused.message and "unreachable" in paused.message
        assert max(weights_of(routing, new) for routing in world.routings("test")) == 50
        shown = (await api.get(f"{ENVIRONMENTS}/test/rollout")).json()
        assert shown["pause"]["reason"] == "inconclusive"
        assert shown["verdict"]["outcome"] == "inconclusive"

    world.run(scenario)


def half_failing(
    world: World, new: Release, *, until: Callable[[RolloutRecord], bool]
) -> Callable[[RolloutRecord], bool]:
    """A tick condition that, each tick, counts 100 more requests to each version, half
    of the new one's failing, and holds once ``until`` does."""
    served = {"old": 0, "new": 0}

    def serve(record: RolloutRecord) -> bool:
        served["old"] += 100
        served["new"] += 100
        world.fake.count_traffic(
            "tiny.test",
            {
                "versions": {
                    world.first.label: {"requests": {"2xx": served["old"]}},
                    new.label: {"requests": {"2xx": served["new"] // 2, "5xx": served["new"] // 2}},
                }
            },
        )
        return until(record)

    return serve


def test_a_canary_with_errors_is_rolled_back_and_the_environment_stays_on_the_old_version(
    world: World,
) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        new = world.release(release=ANALYSED)
        rollout = await world.deploy(api, "test", new)
        await world.tick_until(rollout["id"], analysing_now)
        serve = half_failing(world, new, until=lambda record: record.status.finished)
        ended = await world.tick_until(rollout["id"], serve, step=1)

        assert ended.status is RolloutStatus.ROLLED_BACK, ended.message
        assert "rolled back" in ended.message and "error" in ended.message
        assert weights_of(world.routing("test"), world.first) == 100
        assert list(await world.instances("test")) == ["tiny.test.web-1"]
        environment = world.store.environments.get("tiny", "test")
        assert (environment.version, environment.artifact) == (
            world.first.commit,
            world.first.artifact,
        )
        kinds = [e.kind for e in world.store.deploy_events.list("tiny", "test")]
        assert kinds == [DeployEventKind.STARTED, DeployEventKind.ROLLED_BACK]
        # The immune system's own act is in the audit trail, as the server's.
        (rolled_back,) = world.store.audit.list(action="rollout.rolled_back")
        assert (rolled_back.actor, rolled_back.target) == ("andon", f"tiny/test#{rollout['id']}")
        assert "error" in rolled_back.after["sentence"]

    world.run(scenario)


def test_a_failed_analysis_after_a_migration_the_old_version_cannot_run_on_freezes(
    world: World,
) -> None:
    """Freeze, don't roll back: the rollout says before it starts that rollback by traffic
    is unsafe, and a failing canary then pauses for a person with all traffic where it is."""

    def incompatible(text: str) -> str:
        return text.replace(
            "migrations: {command: bash migrate.sh, path: migrations}",
            "migrations: {command: bash migrate.sh, path: migrations, compatible: false}",
        )

    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        new = world.release(release=ANALYSED, spec=incompatible)
        rollout = await world.deploy(api, "test", new)
        warned = [d["sentence"] for d in rollout["decisions"] if d["kind"] == "warning"]
        assert any("rollback by traffic switch is unsafe" in w for w in warned), warned
        await world.tick_until(rollout["id"], analysing_now)
        serve = half_failing(
            world,
            new,
            until=lambda record: record.status is RolloutStatus.PAUSED or record.status.finished,
        )
        frozen = await world.tick_until(rollout["id"], serve, step=1)

        assert frozen.status is RolloutStatus.PAUSED, frozen.message
        assert frozen.state["rollout"]["pause"]["reason"] == "frozen"
        assert "error" in frozen.message
        assert weights_of(world.routing("test"), new) == 50  # nothing switched back
        assert set(await world.instances("test")) >= {"tiny.test.web-1"}

    world.run(scenario)


def test_blue_green_judges_green_against_blues_recorded_baseline_after_the_switch(
    world: World,
) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        new = world.release(release=JUDGED_BLUE_GREEN)
        rollout = await world.deploy(api, "test", new)
        served = {world.first.label: 0, new.label: 0}

        def serve(record: RolloutRecord) -> bool:
            # 100 good requests a tick, to whichever version the router sends them.
            weights = world.routing("test").get("weights", {})
            serving = new.label if weights.get(new.label) == 100 else world.first.label
            served[serving] += 100
            world.fake.count_traffic(
                "tiny.test",
                {"versions": {v: {"requests": {"2xx": n}} for v, n in served.items() if n}},
            )
            return record.status.finished or phase_of(record) == "paused"

        ended = await world.tick_until(rollout["id"], serve, step=1)

        assert ended.status is RolloutStatus.SUCCEEDED, ended.message
        sentences = " ".join(d["sentence"] for d in ended.state["rollout"]["decisions"])
        assert "analysis run 1 passed" in sentences
        assert f"compared with {world.first.label}'s recorded baseline" in sentences

    world.run(scenario)


BAKED_RECREATE = """
release:
  strategy: recreate
  bake: 30s
  analysis:
    interval: 1s
    min_samples: 200
    metrics:
      - {name: errors, provider: router, query: error_rate, baseline: {max_increase: 100%}}
"""
"""Recreate whose bake judges the new version against what the old one served before."""


def test_a_recreate_bake_judges_against_the_old_versions_record_and_starts_it_again(
    world: World,
) -> None:
    """The old version stops at once, so the rollout has no window of it to compare
    with: the bake compares with all the router had counted of it when the rollout
    began, and a failure starts it again before traffic returns to it."""

    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        old = {"2xx": 4_980, "5xx": 20}  # 0.4% errors before the rollout
        world.fake.count_traffic("tiny.test", {"versions": {world.first.label: {"requests": old}}})
        new = world.release(release=BAKED_RECREATE)
        rollout = await world.deploy(api, "test", new)
        served = {"2xx": 0, "5xx": 0}

        def serve(record: RolloutRecord) -> bool:
            # The new version, once it takes traffic, fails 4% of 100 requests a tick.
            if weights_of(world.routing("test"), new) == 100:
                served["2xx"] += 96
                served["5xx"] += 4
            world.fake.count_traffic(
                "tiny.test",
                {
                    "versions": {
                        world.first.label: {"requests": old},
                        new.label: {"requests": dict(served)},
                    }
                },
            )
            return record.status.finished

        ended = await world.tick_until(rollout["id"], serve, step=1)

        assert ended.status is RolloutStatus.ROLLED_BACK, ended.message
        sentences = " ".join(d["sentence"] for d in ended.state["rollout"]["decisions"])
        assert f"{new.commit} bakes for 30s" in sentences
        assert f"compared with {world.first.label}'s recorded baseline of 5,000 requests" in (
            sentences
        )
        assert f"starting 1 instance of {world.first.commit}" in sentences
        assert weights_of(world.routing("test"), world.first) == 100
        assert list(await world.instances("test")) == [f"tiny.test.web-1.{world.first.label}"]

    world.run(scenario)


# -- each strategy, good ----------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["recreate", "rolling", "blue-green", "canary"])
def test_each_strategy_takes_a_good_release_to_all_traffic_and_records_it(
    world: World, strategy: str
) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("staging")
        new = world.release(release=QUICK.format(strategy=strategy))
        rollout = await world.deploy(api, "staging", new)
        assert rollout["strategy"] == strategy and rollout["commits"] == [new.commit]

        done = await world.tick_until(rollout["id"], finished, step=5)

        assert done.status is RolloutStatus.SUCCEEDED, done.message
        assert world.routing("staging")["weights"].get(new.label) == 100
        assert sorted(await world.instances("staging")) == [
            f"tiny.staging.web-1.{new.label}",
            f"tiny.staging.web-2.{new.label}",
        ]
        environment = world.store.environments.get("tiny", "staging")
        assert (environment.version, environment.artifact) == (new.commit, new.artifact)
        assert f"since rollout #{rollout['id']}" in environment.message
        events = world.store.deploy_events.list("tiny", "staging")
        assert [e.kind for e in events] == [
            DeployEventKind.STARTED,
            DeployEventKind.PROMOTED,
            DeployEventKind.FINISHED,
        ]
        assert all(e.commits == [new.commit] and e.artifact == new.artifact for e in events)
        assert all(e.rollout_id == rollout["id"] for e in events)
        # When the commit landed on trunk, for DORA's change lead time.
        assert all(list(e.commit_times) == [new.commit] for e in events)

    world.run(scenario)


def test_undo_after_a_good_rollout_brings_the_old_release_back(world: World) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        new = world.release(release=QUICK.format(strategy="rolling"))
        rollout = await world.deploy(api, "test", new)
        await world.tick_until(rollout["id"], finished)

        undo = await api.post(f"{ENVIRONMENTS}/test/rollout/undo", json={"by": "bob"})
        assert undo.status_code == 200, undo.text
        back = undo.json()
        assert (back["from_version"], back["to_version"]) == (new.commit, world.first.commit)
        assert back["strategy"] == "blue-green" and back["commits"] == []
        done = await world.tick_until(back["id"], finished)

        assert done.status is RolloutStatus.SUCCEEDED, done.message
        assert weights_of(world.routing("test"), world.first) == 100
        environment = world.store.environments.get("tiny", "test")
        assert (environment.version, environment.artifact) == (
            world.first.commit,
            world.first.artifact,
        )

    world.run(scenario)


# -- refusals -----------------------------------------------------------------------------------


def test_a_frozen_environment_refuses_a_deploy_unless_the_glass_is_broken_with_a_reason(
    world: World,
) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        new = world.release(release=QUICK.format(strategy="recreate"))
        frozen = await api.post(
            f"{ENVIRONMENTS}/test/freezes", json={"reason": "black friday", "duration": "4h"}
        )
        assert frozen.status_code == 201, frozen.text

        refused = await api.post(f"{ENVIRONMENTS}/test/rollouts", json={"artifact": new.artifact})
        message = error(refused, 409)
        assert "is frozen until" in message and "black friday" in message
        assert "--break-glass" in message
        blank = await api.post(
            f"{ENVIRONMENTS}/test/rollouts", json={"artifact": new.artifact, "break_glass": " "}
        )
        error(blank, 409)
        assert world.store.rollouts.list() == []

        broken = await world.deploy(api, "test", new, break_glass="checkout is down, fix")
        done = await world.tick_until(broken["id"], finished)
        assert done.status is RolloutStatus.SUCCEEDED, done.message
        (entry,) = world.store.audit.list(action="rollouts.break_glass")
        assert (entry.actor, entry.target) == ("admin", f"tiny/test#{broken['id']}")
        assert entry.after["reason"] == "checkout is down, fix"
        assert entry.after["freezes"][0]["reason"] == "black friday"

        lifted = await api.delete(f"{ENVIRONMENTS}/test/freezes/{frozen.json()['id']}")
        assert lifted.json()["active"] is False
        again = await world.deploy(api, "test", world.first)
        assert again["status"] in {"running", "queued"}

    world.run(scenario)


def test_a_second_deploy_is_refused_or_queued_and_starts_when_the_first_ends(
    world: World,
) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        second = world.release(release=QUICK.format(strategy="rolling"))
        third = world.release(release=QUICK.format(strategy="rolling"))
        first = await world.deploy(api, "test", second)

        refused = await api.post(f"{ENVIRONMENTS}/test/rollouts", json={"artifact": third.artifact})
        message = error(refused, 409)
        assert f"has a rollout in progress (#{first['id']}, running)" in message
        assert "--queue" in message and "'andon rollout abort test'" in message
        queued = await world.deploy(api, "test", third, queue=True)
        assert queued["status"] == "queued"

        world.clock.run()
        world.controller.interval = 0.05
        world.controller.start()
        await settled(world, queued["id"])

        assert world.store.rollouts.get(first["id"]).status is RolloutStatus.SUCCEEDED
        shown = (await api.get(f"/rollouts/{queued['id']}")).json()
        assert shown["from_version"] == second.commit, shown["decisions"]
        assert shown["commits"] == [third.commit]
        assert world.routing("test")["weights"].get(third.label) == 100
        assert list(await world.instances("test")) == [f"tiny.test.web-1.{third.label}"]
        assert world.store.environments.get("tiny", "test").version == third.commit

    world.run(scenario)


def test_an_artifact_that_does_not_verify_is_refused_and_nothing_is_recorded(
    world: World,
) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        new = world.release()
        archive = world.lifecycle.artifacts.path(new.artifact)
        archive.write_bytes(archive.read_bytes() + b"tampered")

        refused = await api.post(f"{ENVIRONMENTS}/test/rollouts", json={"artifact": new.artifact})

        message = error(refused, 409)
        assert "was modified after it was built" in message and "rerunning the pipeline" in message
        assert world.store.rollouts.list() == []
        assert world.store.deploy_events.list() == []
        assert world.fake.routings == {}

    world.run(scenario)


def test_undo_with_no_release_to_go_back_to_is_refused_in_a_sentence(world: World) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")

        refused = await api.post(f"{ENVIRONMENTS}/test/rollout/undo", json={})

        message = error(refused, 409)
        assert "there is no release to undo to" in message
        assert "'andon deploy test'" in message
        assert world.store.rollouts.list() == []

    world.run(scenario)


def test_a_protected_environment_asks_the_line_and_waits_for_approval(world: World) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("prod")
        approved = world.release(
            spec=lambda text: text.replace(
                "prod: {protected: true}", "prod: {protected: true, approval: required}"
            )
        )
        unproven = world.release(green=False)
        # Asked for while the line ran, it waits for approval; the line stops meanwhile.
        waiting = await world.deploy(api, "prod", unproven)
        world.store.line.append(
            project="tiny",
            state=LineState.STOPPED,
            cause="manual",
            reason="freeze for the audit",
            actor="alice",
        )
        carol = user_bearer(world.store, "carol")
        too_late = await api.post(f"{ENVIRONMENTS}/prod/rollout/approve", json={}, headers=carol)
        message = error(too_late, 409)
        assert "the line is stopped" in message and "freeze for the audit" in message
        assert (await api.post(f"{ENVIRONMENTS}/prod/rollout/abort", json={})).is_success
        cancelled = await world.tick_until(waiting["id"], finished)
        assert cancelled.status is RolloutStatus.ABORTED
        assert list(await world.instances("prod")) == ["tiny.prod.web-1"]

        refused = await api.post(
            f"{ENVIRONMENTS}/prod/rollouts", json={"artifact": unproven.artifact}
        )
        message = error(refused, 409)
        assert "the line is stopped" in message and "freeze for the audit" in message
        assert [r.id for r in world.store.rollouts.list()] == [waiting["id"]]

        # The last green artifact may go, once a person approves.
        rollout = await world.deploy(api, "prod", approved)
        for _ in range(3):
            pending = await world.controller.tick(rollout["id"])
            world.clock.advance(60)
        assert phase_of(pending) == "pending" and "waiting for approval" in pending.message
        assert list(await world.instances("prod")) == ["tiny.prod.web-1"]
        early = await api.post(f"{ENVIRONMENTS}/prod/rollout/promote", json={})
        assert "cannot be skipped" in error(early, 409)

        own = await api.post(f"{ENVIRONMENTS}/prod/rollout/approve", json={"reason": "mine"})
        assert "four eyes" in error(own, 403)
        answer = await api.post(
            f"{ENVIRONMENTS}/prod/rollout/approve", json={"reason": "CAB-12"}, headers=carol
        )
        assert answer.status_code == 200, answer.text
        done = await world.tick_until(rollout["id"], finished)

        assert done.status is RolloutStatus.SUCCEEDED, done.message
        sentences = [d["sentence"] for d in done.state["rollout"]["decisions"]]
        assert "approved by carol (CAB-12)" in sentences
        again = await api.post(f"{ENVIRONMENTS}/prod/rollout/approve", json={})
        assert "has succeeded already" in error(again, 409)

    world.run(scenario)


# -- restarts -------------------------------------------------------------------------------------


def test_an_agent_that_restarts_mid_rollout_delays_it_without_failing_it(world: World) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        new = world.release(release=QUICK.format(strategy="canary"))
        rollout = await world.deploy(api, "test", new)
        paused = await world.tick_until(rollout["id"], in_phase("paused"))
        assert weights_of(world.routing("test"), new) == 50

        world.fake.reachable = False
        for _ in range(3):
            world.clock.advance(5)
            waiting = await world.controller.tick(rollout["id"])
            assert waiting.status is RolloutStatus.PAUSED, waiting.message
            assert "unreachable" in waiting.message and "retr" in waiting.message
            assert waiting.state["rollout"] == paused.state["rollout"]
        world.fake.reachable = True
        done = await world.tick_until(rollout["id"], finished)

        assert done.status is RolloutStatus.SUCCEEDED, done.message
        assert weights_of(world.routing("test"), new) == 100

    world.run(scenario)


def test_a_command_that_comes_while_a_tick_awaits_the_agent_is_carried_out(
    world: World,
) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        new = world.release(
            release=QUICK.replace("pause: 10s", "pause: {{}}").format(strategy="canary")
        )
        rollout = await world.deploy(api, "test", new)
        await world.tick_until(rollout["id"], in_phase("paused"))
        world.fake.held, world.fake.holding = asyncio.Event(), asyncio.Event()
        slow = asyncio.create_task(world.controller.tick(rollout["id"]))
        await world.fake.holding.wait()
        world.app.state.deploys.command("tiny", "test", CommandKind.PROMOTE, by="bo")
        world.fake.held.set()
        world.fake.held = None
        await slow

        assert world.store.rollouts.get(rollout["id"]).state["commands"] != []
        done = await world.tick_until(rollout["id"], finished)
        assert done.status is RolloutStatus.SUCCEEDED, done.message
        assert weights_of(world.routing("test"), new) == 100

    world.run(scenario)


@pytest.mark.parametrize(
    ("strategy", "killed_in", "left"),
    [("canary", "set_routing", "set_traffic"), ("rolling", "stop_instance", "stop_instances")],
)
def test_a_restarted_server_applies_the_rest_of_the_step_it_was_killed_in(
    world: World, strategy: str, killed_in: str, left: str
) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        new = world.release(release=QUICK.format(strategy=strategy))
        rollout = await world.deploy(api, "test", new)
        await world.tick_until(rollout["id"], in_phase("smoke_testing"), step=1)
        limit = time.monotonic() + 10
        while not world.store.rollouts.get(rollout["id"]).state["results"].get("smoke"):
            assert time.monotonic() < limit, "the smoke tests never ended"
            await asyncio.sleep(0.02)
        world.fake.die_at = killed_in

        with pytest.raises(ServerKilled):
            await world.controller.tick(rollout["id"])
        killed = world.store.rollouts.get(rollout["id"])
        assert killed.state["pending"][0]["kind"] == left
        restarted = RolloutController(world.store, world.lifecycle)
        resumed = await restarted.tick(rollout["id"])

        assert resumed.state["pending"] == []
        assert resumed.state["rollout"]["step_index"] == killed.state["rollout"]["step_index"]
        assert phase_of(resumed) == phase_of(killed)
        if strategy == "canary":
            assert phase_of(resumed) == "paused"
            assert weights_of(world.routing("test"), new) == 50
        else:
            assert resumed.status is RolloutStatus.SUCCEEDED
            assert list(await world.instances("test")) == [f"tiny.test.web-1.{new.label}"]
        # Each event once: an event applied before the server died is not stored again.
        kinds = [e.kind for e in world.store.deploy_events.list("tiny", "test")]
        assert len(kinds) == len(set(kinds)), kinds

    world.run(scenario)


def test_a_restarted_server_runs_again_the_migrations_it_was_killed_in(world: World) -> None:
    gate = world.tmp / "migrations-may-finish"
    slow = f'test -f {gate} || sleep 30\necho "migrated at last"\n'

    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        new = world.release(files={"migrate.sh": slow})
        rollout = await world.deploy(api, "test", new)
        migrating = await world.tick_until(rollout["id"], in_phase("migrating"), step=1)
        assert migrating.state["running"] == {"migrations": 1}

        await world.controller.stop()  # the server stops mid-step
        gate.write_text("go")
        restarted = RolloutController(world.store, world.lifecycle)
        world.app.state.rollouts = restarted
        done = await world.tick_until(rollout["id"], finished, step=1)

        assert done.status is RolloutStatus.SUCCEEDED, done.message
        assert "migrations of" in str(done.state["rollout"]["decisions"])
        assert done.state["results"]["migrations"]["message"] == "migrated at last"

    world.run(scenario)


# -- what the API shows ---------------------------------------------------------------------------


def test_the_api_shows_a_rollout_its_history_and_refuses_in_sentences(world: World) -> None:
    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        none_yet = await api.get(f"{ENVIRONMENTS}/test/rollout")
        assert "has had no rollout" in error(none_yet, 404)
        new = world.release(release=QUICK.format(strategy="canary"))
        rollout = await world.deploy(api, "test", new)
        await world.tick_until(rollout["id"], in_phase("paused"))

        current = (await api.get(f"{ENVIRONMENTS}/test/rollout")).json()
        assert current["id"] == rollout["id"] and current["status"] == "paused"
        assert current["phase"] == "paused" and current["step_index"] == 1
        assert [step["kind"] for step in current["steps"]] == ["weight", "pause"]
        assert current["traffic"]["weights"] == {world.first.commit: 50, new.commit: 50}
        assert current["pause"]["reason"] == "step"
        assert current["checks"]["smoke"]["passed"] is True
        assert "state" not in current
        kinds = [decision["kind"] for decision in current["decisions"]]
        assert kinds[0] == "created" and "paused" in kinds
        by_id = (await api.get(f"/rollouts/{rollout['id']}")).json()
        assert by_id == current
        history = (await api.get(f"{ENVIRONMENTS}/test/rollouts")).json()
        assert [item["id"] for item in history] == [rollout["id"]]

        unknown = await api.post(f"{ENVIRONMENTS}/test/rollout/rewind", json={})
        assert "there is no rollout command 'rewind'" in error(unknown, 404)
        refused = await api.post(f"{ENVIRONMENTS}/test/rollout/resume", json={})
        assert "cannot resume rollout" in error(refused, 409)
        missing = await api.get("/rollouts/999")
        assert "no rollout #999" in error(missing, 404)
        assert "andon rollout list" not in missing.text

        aborted = await api.post(
            f"{ENVIRONMENTS}/test/rollout/abort", json={}, headers=user_bearer(world.store, "dan")
        )
        # A command acts at once: the answer already shows it carried out.
        assert aborted.status_code == 200 and aborted.json()["pending_commands"] == []
        assert any("dan" in decision["sentence"] for decision in aborted.json()["decisions"])
        done = await world.tick_until(rollout["id"], finished)
        assert done.status is RolloutStatus.ABORTED
        assert weights_of(world.routing("test"), world.first) == 100
        shown = (await api.get(f"/rollouts/{rollout['id']}")).json()
        assert shown["settled"] is (not done.state.get("pending"))
        again = await api.post(f"{ENVIRONMENTS}/test/rollout/pause", json={})
        assert "has aborted already" in error(again, 409)

    world.run(scenario)


# -- auto-deploy --------------------------------------------------------------------------------


def test_a_green_trunk_commit_is_deployed_by_itself_where_andon_yaml_asks_once(
    world: World,
) -> None:
    """``auto_deploy: true`` on test, not on staging: the green commit goes to test
    alone, once; a rolled-back or refused commit is not tried again, and a red trunk
    (the line stopped) deploys nothing, not even the last green commit."""

    def auto(text: str) -> str:
        # staging copies test's keys (``from: test``); it says it does not want this one.
        return text.replace("  test: {}", "  test: {auto_deploy: true}").replace(
            "staging: {from: test,", "staging: {from: test, auto_deploy: false,"
        )

    async def scenario(api: httpx.AsyncClient) -> None:
        await world.up("test")
        await world.up("staging")
        deployer = world.app.state.auto_deployer
        new = world.release(release=QUICK.format(strategy="rolling"), spec=auto)

        started = await deployer.tick(world.clock())

        assert [(r.environment, r.to_version, r.created_by) for r in started] == [
            ("test", new.commit, "auto-deploy")
        ]
        assert await deployer.tick(world.clock()) == []  # once per commit
        aborted = await api.post(f"{ENVIRONMENTS}/test/rollout/abort", json={"by": "bob"})
        assert aborted.status_code == 200, aborted.text
        await world.tick_until(started[0].id, finished)
        assert await deployer.tick(world.clock()) == []  # not again after going back

        # A commit that changes andon.yaml alone packages the same artifact; it goes by
        # its own commit (and so its own andon.yaml), not as the artifact's first commit.
        same_code = git(world.tiny.repo, "show", f"{new.commit}:app.py") + "\n"
        yaml_only = world.release(
            release=QUICK.format(strategy="rolling") + "# a note\n",
            spec=auto,
            files={"app.py": same_code},
        )
        assert yaml_only.artifact == new.artifact
        (again,) = await deployer.tick(world.clock())
        assert (again.environment, again.to_version) == ("test", yaml_only.commit)
        await world.tick_until(again.id, finished)

        world.release(release=QUICK.format(strategy="rolling"), spec=auto)
        world.release(release=QUICK.format(strategy="rolling"), spec=auto, green=False)
        assert await deployer.tick(world.clock()) == []  # the line is stopped

    world.run(scenario)
