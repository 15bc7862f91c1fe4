"""What a rollout does to an environment that is up, one target at a time: prepare a
release (unpack and render its config), run N instances of a version beside the others,
stop a version's instances down to a number, run the migrations once, smoke-test a
version through a header route, route the traffic, and report each version's instances.

The rollout reconciler (``andon.server.rolling_out``) calls a :class:`ReleaseDeployment`
for the actions its deciders ask for. Every method states a target, so calling one twice
does no harm: a server killed between an action and its record applies it again.

Instances of a deployed version are named after it, ``shop.prod.web-1.<version>``, so that
two versions run side by side; ``env up`` names its first version's ``shop.prod.web-1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from andon.artifacts import ArtifactStore
from andon.environments.commands import MaskedLog, require_success, run_command
from andon.environments.databases import DatabaseInfo, environment_dir
from andon.environments.declaring import (
    AGENT_SEPARATOR,
    PlannedInstance,
    agent_environment,
    http_process,
    instance_id,
    instance_variables,
    plan_instances,
    variables,
    version_label,
)
from andon.environments.orders import EnvironmentOrder
from andon.environments.releases import prepare_release
from andon.environments.rendering import render_templates
from andon.environments.secrets import secret_values
from andon.environments.smoking import run_smoke_tests
from andon.environments.values import layer_values
from andon.errors import AndonError, NotFoundError
from andon.runtimes import InstancePhase, InstanceSpec, InstanceStatus, Runtime
from andon.settings import Settings


@dataclass(frozen=True)
class VersionReport:
    """A version's instances of the HTTP process: how many take traffic, how many the
    runtime gave up on (crash loop), and what the first of those said."""

    ready: int = 0
    failed: int = 0
    message: str = ""
    ports: tuple[int, ...] = ()
    """The ports of the instances that take traffic (for scraping their metrics)."""


@dataclass
class ReleaseDeployment:
    """Acts on one environment for its rollouts. ``orders`` maps each version taking
    part (old and new) to the order it is built from: its artifact, its andon.yaml."""

    settings: Settings
    artifacts: ArtifactStore
    runtime: Runtime
    project: str
    name: str
    url: str
    secrets: Mapping[str, str]
    database: DatabaseInfo | None
    orders: dict[str, EnvironmentOrder] = field(default_factory=dict)
    checksums: dict[str, dict[str, str]] = field(default_factory=dict)
    """The rendered config files of each version prepared, by destination (sha256)."""

    @property
    def agent_name(self) -> str:
        return agent_environment(self.project, self.name)

    @property
    def directory(self) -> Path:
        return environment_dir(self.settings, self.project, self.name)

    def order(self, version: str) -> EnvironmentOrder:
        try:
            return self.orders[version]
        except KeyError:
            raise NotFoundError(
                f"version {version} is not part of this rollout of {self.name}."
            ) from None

    # -- releases ------------------------------------------------------------------------

    async def prepare(self, version: str) -> Path:
        """The release directory of ``version``: its artifact verified and unpacked, its
        config rendered for this environment (again, if it was there already)."""
        order = self.order(version)
        release = await asyncio.to_thread(
            prepare_release, self.artifacts, order.artifact, self.directory
        )
        values = layer_values(
            order.spec, self.name, self.secrets, version=order.version, database=self.database
        )
        self.checksums[version] = await asyncio.to_thread(
            render_templates,
            order.spec.config.templates,
            release,
            values,
            secrets=secret_values(self.secrets, database=self.database),
        )
        return release

    def variables(self, version: str) -> dict[str, str]:
        """The variables of ``version``'s commands and instances."""
        order = self.order(version)
        return variables(
            order.spec,
            env_name=self.name,
            version=order.version,
            artifact=order.artifact,
            secrets=self.secrets,
            database=self.database,
        )

    def log(self, step: str) -> MaskedLog:
        """The log of one rollout step's commands, which never shows a secret."""
        masked = secret_values(self.secrets, database=self.database)
        return MaskedLog(self.directory / "logs" / f"{step}.log", masked)

    # -- instances -----------------------------------------------------------------------

    async def ensure_instances(self, version: str, count: int) -> list[str]:
        """Run ``count`` instances of ``version``'s HTTP process (its other processes as
        declared, once any run); the ids of those started now."""
        order = self.order(version)
        running = {s.id for s in await self.instances() if _alive(s)}
        serving = http_process(order.spec)
        wanted = [
            planned
            for planned in plan_instances(order.spec, order.environment)
            if planned.process != serving or _number(planned) <= count
        ]
        if count == 0:
            wanted = []
        missing = [p for p in wanted if self.instance_id(version, p) not in running]
        if not missing:
            return []
        release = await self.prepare(version)
        environment = instance_variables(self.variables(version))
        started = []
        for planned in missing:
            status = await self.runtime.start_instance(
                InstanceSpec(
                    environment=self.agent_name,
                    version=version_label(order.version),
                    process=planned.process,
                    command=planned.command,
                    cwd=release,
                    env=environment,
                    health_path=planned.health_path,
                    stop_timeout=planned.stop_timeout,
                    id=self.instance_id(version, planned),
                )
            )
            started.append(status.id)
        return started

    async def stop_instances(self, version: str, keep: int) -> list[str]:
        """Stop instances of ``version`` (drained first) until ``keep`` of its HTTP process
        are left (and none of its other processes when ``keep`` is 0); the ids stopped."""
        label = version_label(version)
        mine = [s for s in await self.instances() if s.version == label and _alive(s)]
        serving = http_process(self.order(version).spec) if version in self.orders else "web"
        web = sorted((s for s in mine if s.process == serving), key=_instance_order)
        others = [s for s in mine if s.process != serving]
        chosen = web[keep:] + (others if keep == 0 else [])
        stopped = await asyncio.gather(
            *(self._stop(status.id) for status in chosen), return_exceptions=True
        )
        for outcome in stopped:
            if isinstance(outcome, BaseException) and not isinstance(outcome, NotFoundError):
                raise outcome
        return [status.id for status in chosen]

    async def _stop(self, instance: str) -> None:
        await self.runtime.stop_instance(instance)

    async def instances(self) -> list[InstanceStatus]:
        """Every instance of the environment."""
        try:
            return await self.runtime.instances(self.agent_name)
        except NotFoundError:
            return []

    async def report(self, version: str | None) -> VersionReport:
        """How ``version``'s HTTP instances are doing (nothing for None)."""
        if version is None:
            return VersionReport()
        label = version_label(version)
        serving = http_process(self.order(version).spec) if version in self.orders else "web"
        mine = [s for s in await self.instances() if s.version == label and s.process == serving]
        failed = [s for s in mine if s.phase is InstancePhase.CRASH_LOOP]
        ready = [s for s in mine if s.serving]
        message = failed[0].message if failed else ""
        return VersionReport(len(ready), len(failed), message, tuple(s.port for s in ready))

    def instance_id(self, version: str, planned: PlannedInstance) -> str:
        """``shop.prod.web-1.<version>``."""
        base = instance_id(self.project, self.name, planned.name)
        return f"{base}{AGENT_SEPARATOR}{version_label(version)}"

    # -- commands --------------------------------------------------------------------------

    async def run_migrations(self, version: str) -> str:
        """Run ``version``'s migrations once at a time for the environment (a file lock
        that other servers respect too); what the command said last."""
        order = self.order(version)
        database = order.spec.database
        if database is None or database.migrations is None:
            return "andon.yaml declares no migrations"
        release = await self.prepare(version)
        log = self.log("migrate")
        lock_path = self.directory / "data" / ".migrations.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+b") as lock:
            await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
            try:
                outcome = await run_command(
                    database.migrations.command,
                    cwd=release,
                    variables=self.variables(version),
                    log=log,
                    timeout=database.migrations.timeout.total_seconds(),
                )
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        require_success(outcome, "the migrations", log)
        return outcome.tail[-1].strip() if outcome.tail else "the migrations ran"

    async def run_smoke_tests(self, version: str, header: str, value: str) -> str:
        """Run ``version``'s smoke tests through the router with ``header: value`` set,
        which routes them to that version only; what passed."""
        order = self.order(version)
        release = await self.prepare(version)
        return await run_smoke_tests(
            order.spec.smoke,
            url=self.url,
            cwd=release,
            variables=self.variables(version),
            log=self.log("smoke"),
            headers={header: value},
        )

    # -- traffic ---------------------------------------------------------------------------

    async def set_traffic(
        self,
        weights: Mapping[str, int],
        routes: Sequence[Mapping[str, str]] = (),
        mirror: Mapping[str, Any] | None = None,
        *,
        versions: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Route the environment: ``weights`` per version (percent), header routes to a
        version, a mirror; ``versions`` named with no weight get 0 (reachable by routes
        only). The routing sent."""
        spec = next(iter(self.orders.values())).spec if self.orders else None
        labels = {version_label(v): w for v, w in weights.items()}
        for version in versions:
            labels.setdefault(version_label(version), 0)
        for route in routes:
            labels.setdefault(version_label(route["version"]), 0)
        routing: dict[str, Any] = {
            "process": http_process(spec) if spec is not None else "web",
            "weights": labels,
        }
        if routes:
            routing["routes"] = [
                {"header": r["header"], "value": r["value"], "version": version_label(r["version"])}
                for r in routes
            ]
        if mirror is not None:
            routing["mirror"] = {
                "version": version_label(str(mirror["version"])),
                "percent": float(mirror["percent"]),
            }
        await self.runtime.set_routing(self.agent_name, routing)
        return routing

    async def traffic(self) -> dict[str, Any] | None:
        """The router's counters, or None when it cannot be asked."""
        with contextlib.suppress(AndonError):
            return await self.runtime.traffic(self.agent_name)
        return None


def _alive(status: InstanceStatus) -> bool:
    return status.phase not in {InstancePhase.STOPPING, InstancePhase.STOPPED}


def _number(planned: PlannedInstance) -> int:
    return int(planned.name.rsplit("-", 1)[1])


def _instance_order(status: InstanceStatus) -> tuple[int, str]:
    # web-2 before web-10; the highest numbers are stopped first.
    name = status.id.rsplit(AGENT_SEPARATOR, 2)
    for part in reversed(name):
        head, _, number = part.rpartition("-")
        if head and number.isdigit():
            return (int(number), status.id)
    return (0, status.id)
