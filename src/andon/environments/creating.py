"""Creating an environment from its order, step by step: unpack the verified artifact,
create its database, render its config, run its migrations and seed data, start its
instances through the runtime, wait for their health and for the router, and run the
smoke tests. A step that fails undoes everything made before it — instances stopped,
database dropped, release removed — and leaves the record failed with the reason; only
the logs of its commands stay, to say why.

:meth:`~andon.environments.EnvironmentLifecycle.up` runs an :class:`EnvironmentCreation`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from andon.artifacts import ArtifactStore, short_digest
from andon.environments.commands import MaskedLog, mask, require_success, run_command
from andon.environments.databases import (
    DatabaseInfo,
    drop_database,
    environment_dir,
    provision_database,
)
from andon.environments.declaring import (
    PlannedInstance,
    agent_environment,
    http_process,
    instance_id,
    instance_name,
    instance_variables,
    plan_instances,
    routing,
    variables,
    version_label,
)
from andon.environments.orders import EnvironmentOrder
from andon.environments.releases import prepare_release
from andon.environments.rendering import render_templates
from andon.environments.secrets import secret_values
from andon.environments.smoking import run_smoke_tests
from andon.environments.steps import StepError, StepRunner
from andon.environments.values import layer_values
from andon.errors import AndonError, NotFoundError
from andon.runtimes import InstancePhase, InstanceSpec, InstanceStatus, Runtime
from andon.settings import Settings
from andon.store import EnvironmentRecord, EnvironmentStatus, Store

ROUTER_WAIT_S = 10.0
_LOG_LINES = 5
# The router's own answer while a version has no ready instance (agent/router/exchange.py).
_NOT_ROUTED = "No ready instance"


@dataclass
class EnvironmentCreation:
    """One run of ``env up``: what it needs, and what it has made so far."""

    store: Store
    settings: Settings
    artifacts: ArtifactStore
    runtime: Runtime
    order: EnvironmentOrder
    secrets: Mapping[str, str]
    steps: StepRunner
    timer: Callable[[], float]
    health_timeout: float = 60.0
    poll_interval: float = 0.2
    await_router: bool = True
    """Whether the environment's URL is served by a router to wait for (the fake runtime
    of engine tests routes nothing)."""
    release: Path | None = None
    database: DatabaseInfo | None = None
    started: bool = False
    url: str = ""

    @property
    def directory(self) -> Path:
        """The environment's own directory under ANDON_HOME."""
        return environment_dir(self.settings, self.order.project, self.order.name)

    @property
    def agent_name(self) -> str:
        """The environment's name on the agent."""
        return agent_environment(self.order.project, self.order.name)

    def log(self, step: str) -> MaskedLog:
        """The log of one step's commands, which never shows a secret."""
        masked = secret_values(self.secrets, database=self.database)
        return MaskedLog(self.directory / "logs" / f"{step}.log", masked)

    def variables(self) -> dict[str, str]:
        """The variables of its commands and instances."""
        order = self.order
        return variables(
            order.spec,
            env_name=order.name,
            version=order.version,
            artifact=order.artifact,
            secrets=self.secrets,
            database=self.database,
        )

    async def run(self) -> EnvironmentRecord:
        """Make the environment; its ready record, or its failed one after undoing."""
        record = self.store.environments.get(self.order.project, self.order.name)
        self.url = record.url or ""
        try:
            await self._make(record)
        except asyncio.CancelledError:
            # The server is stopping: no time to undo; 'env down' cleans up later.
            self._failed("the server stopped while it was being created")
            raise
        except AndonError as exc:
            reason = f"failed to {self.steps.current}: {exc.message}"
            try:
                await self.steps.run("undo", "undo what was made", self._undo)
            except AndonError as undoing:
                # What could not be undone stays recorded for 'env down' to finish.
                return self._failed(f"{reason}; undoing failed too: {undoing.message}", keep=True)
            return self._failed(reason)
        return self.store.environments.update(
            self.order.project,
            self.order.name,
            status=EnvironmentStatus.READY,
            message=f"ready at {self.url}",
        )

    async def _make(self, record: EnvironmentRecord) -> None:
        spec = self.order.spec
        await self.steps.run("unpack", "verify and unpack the artifact", self._unpack)
        if spec.database is not None:
            await self.steps.run("database", "create its database", self._provision)
        await self.steps.run("config", "render its config", self._render)
        if spec.database is not None and spec.database.migrations is not None:
            await self.steps.run("migrate", "run the migrations", self._migrate)
        if spec.database is not None and spec.database.seed is not None:
            await self.steps.run("seed", "insert the seed data", self._seed)
        await self.steps.run("start", "start its instances", lambda: self._start(record))
        await self.steps.run("health", "wait for health", self._await_health)
        await self.steps.run("smoke", "run the smoke tests", self._smoke)

    # -- the steps -----------------------------------------------------------------------

    async def _unpack(self) -> str:
        digest = self.order.artifact
        self.release = await asyncio.to_thread(
            prepare_release, self.artifacts, digest, self.directory
        )
        return f"{short_digest(digest)} in {self.release}"

    async def _provision(self) -> str:
        order = self.order
        self.database = await asyncio.to_thread(
            provision_database, order.spec, order.project, order.name, self.settings
        )
        assert self.database is not None
        # Recorded at once, so that a server dying from here on still knows what to drop.
        self.store.environments.update(order.project, order.name, database=self.database.to_dict())
        return self.database.redacted_url

    async def _render(self) -> str:
        order, release = self.order, self._release()
        values = layer_values(
            order.spec, order.name, self.secrets, version=order.version, database=self.database
        )
        checksums = await asyncio.to_thread(
            render_templates,
            order.spec.config.templates,
            release,
            values,
            secrets=secret_values(self.secrets, database=self.database),
        )
        self.store.environments.update(order.project, order.name, config_checksums=checksums)
        rendered = ", ".join(checksums) or "no config templates"
        missing = [name for name in order.spec.secrets if name not in self.secrets]
        unset = f"; secrets not set: {', '.join(missing)}" if missing else ""
        return f"rendered {rendered}{unset}"

    async def _migrate(self) -> str:
        database = self.order.spec.database
        assert database is not None and database.migrations is not None
        migrations = database.migrations
        return await self._command(
            "migrate", "the migrations", migrations.command, migrations.timeout.total_seconds()
        )

    async def _seed(self) -> str:
        database = self.order.spec.database
        assert database is not None and database.seed is not None
        timeout = database.migrations.timeout if database.migrations else None
        seconds = timeout.total_seconds() if timeout is not None else 300.0
        return await self._command("seed", "the seed data", database.seed.command, seconds)

    async def _command(self, step: str, what: str, command: str, timeout: float) -> str:
        log = self.log(step)
        outcome = await run_command(
            command, cwd=self._release(), variables=self.variables(), log=log, timeout=timeout
        )
        require_success(outcome, what, log)
        return outcome.tail[-1].strip() if outcome.tail else f"{what} ran"

    async def _start(self, record: EnvironmentRecord) -> str:
        order = self.order
        version = version_label(order.version)
        await self.runtime.ensure_environment(
            self.agent_name,
            listen_port=record.router_port,
            routing=routing(order.spec, order.version),
        )
        self.started = True
        environment = instance_variables(self.variables())
        started = []
        for planned in plan_instances(order.spec, order.environment):
            status = await self.runtime.start_instance(
                InstanceSpec(
                    environment=self.agent_name,
                    version=version,
                    process=planned.process,
                    command=planned.command,
                    cwd=self._release(),
                    env=environment,
                    health_path=planned.health_path,
                    stop_timeout=planned.stop_timeout,
                    id=instance_id(order.project, order.name, planned.name),
                )
            )
            started.append(f"{planned.name} on port {status.port}")
        return f"started {', '.join(started)}" if started else "no instances are declared"

    async def _await_health(self) -> str:
        order = self.order
        wanted = {instance_id(order.project, order.name, p.name) for p in self._planned()}
        deadline = self.timer() + self.health_timeout
        while True:
            statuses = {s.id: s for s in await self.runtime.instances(self.agent_name)}
            for instance in sorted(wanted):
                status = statuses.get(instance)
                if status is not None and status.phase is InstancePhase.CRASH_LOOP:
                    raise StepError(
                        f"instance {self._name(instance)} is in a crash loop "
                        f"({status.message}){await self._log_end(instance)}"
                    )
            waiting = [i for i in sorted(wanted) if not _ready(statuses.get(i))]
            if not waiting:
                break
            if self.timer() >= deadline:
                first = statuses.get(waiting[0])
                phase = first.message if first is not None else "missing"
                raise StepError(
                    f"instance {self._name(waiting[0])} is not ready "
                    f"{self.health_timeout:g}s after its start ({phase})"
                    f"{await self._log_end(waiting[0])}"
                )
            await asyncio.sleep(self.poll_interval)
        routed = await self._await_router()
        count = len(wanted)
        return f"{count} instance{'s' if count != 1 else ''} ready{routed}"

    async def _await_router(self) -> str:
        """Wait until the router sends requests to the new instances (it learns of them
        from the agent just after they turn ready)."""
        if not self.url or not self.await_router:
            return ""
        serving = http_process(self.order.spec)
        health = next((p.health_path for p in self._planned() if p.process == serving), None)
        health = health or "/"
        deadline = self.timer() + ROUTER_WAIT_S
        async with httpx.AsyncClient(trust_env=False, timeout=2.0) as client:
            while True:
                try:
                    response = await client.get(f"{self.url}{health}")
                    if not (response.status_code == 503 and _NOT_ROUTED in response.text):
                        return f"; routed at {self.url}"
                except httpx.HTTPError:
                    pass
                if self.timer() >= deadline:
                    raise StepError(
                        f"the router at {self.url} does not route to the instances "
                        f"{ROUTER_WAIT_S:g}s after they turned ready; see the agent's log."
                    )
                await asyncio.sleep(self.poll_interval)

    async def _smoke(self) -> str:
        return await run_smoke_tests(
            self.order.spec.smoke,
            url=self.url,
            cwd=self._release(),
            variables=self.variables(),
            log=self.log("smoke"),
        )

    async def _undo(self) -> str:
        undone = []
        if self.started:
            with contextlib.suppress(NotFoundError):
                await self.runtime.remove_environment(self.agent_name)
            undone.append("stopped its instances")
        if self.database is not None:
            await asyncio.to_thread(drop_database, self.database, self.settings)
            undone.append("dropped its database")
        for part in ("releases", "data"):
            await asyncio.to_thread(shutil.rmtree, self.directory / part, True)
        undone.append("removed its release")
        return "; ".join(undone)

    # -- helpers -------------------------------------------------------------------------

    def _failed(self, reason: str, *, keep: bool = False) -> EnvironmentRecord:
        environments = self.store.environments
        project, name = self.order.project, self.order.name
        if keep:
            return environments.update(
                project, name, status=EnvironmentStatus.FAILED, message=reason
            )
        return environments.update(
            project,
            name,
            status=EnvironmentStatus.FAILED,
            message=reason,
            database=None,
            config_checksums={},
        )

    def _release(self) -> Path:
        assert self.release is not None, "the release is unpacked first"
        return self.release

    def _planned(self) -> list[PlannedInstance]:
        return plan_instances(self.order.spec, self.order.environment)

    def _name(self, instance: str) -> str:
        return instance_name(self.order.project, self.order.name, instance)

    async def _log_end(self, instance: str) -> str:
        try:
            text = await self.runtime.logs(instance, tail=_LOG_LINES)
        except AndonError:
            return ""
        masked = mask(text, secret_values(self.secrets, database=self.database))
        lines = [line.strip() for line in masked.splitlines()]
        shown = " | ".join(line for line in lines if line)
        return f"; its log ends: {shown}" if shown else ""


def _ready(status: InstanceStatus | None) -> bool:
    return status is not None and status.serving
