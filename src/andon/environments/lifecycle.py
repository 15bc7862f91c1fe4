"""The life of an environment, from ``andon env up`` to ``andon env down``: composing what
to build, creating it step by step (``creating.py``), destroying it, and looking at it
(its instances, its drift, how it compares with another).

The server's environments API and its controllers (the TTL reaper, the drift checker)
hold one :class:`EnvironmentLifecycle`. ``begin`` and ``begin_down`` record the change at
once, in the request; ``up`` and ``down`` do the slow work afterwards, telling a
:data:`~andon.environments.steps.Progress` of every step. Each environment runs on the
runtime its declaration names (the local agent), reached through ``runtimes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from andon.artifacts import LocalArtifactStore
from andon.environments.commands import mask
from andon.environments.creating import EnvironmentCreation
from andon.environments.databases import DatabaseInfo, database_info
from andon.environments.declaring import (
    agent_environment,
    declared_migrations,
    instance_name,
)
from andon.environments.destroying import destroy_environment
from andon.environments.diffing import EnvironmentSnapshot
from andon.environments.drift import DriftItem, assess_drift
from andon.environments.inspecting import (
    COMMAND_LOGS,
    choose_instances,
    command_log,
    declaration,
    snapshot,
)
from andon.environments.observing import applied_migrations, observe_environment
from andon.environments.orders import EnvironmentOrder, compose_order, order_from_record
from andon.environments.ports import ROUTER_HOST, choose_router_port
from andon.environments.secrets import SecretBox, SecretVault, secret_values
from andon.environments.steps import Progress, StepRunner, ignore_progress
from andon.errors import AndonError, ConflictError, NotFoundError, UsageError
from andon.runtimes import InstanceStatus, Runtime, runtime_for
from andon.settings import Settings
from andon.spec import RuntimeKind
from andon.spec.problems import did_you_mean
from andon.store import EnvironmentRecord, EnvironmentStatus, Store

RuntimeFactory = Callable[[str], Runtime]
"""Makes the runtime of a kind (``local``); the caller closes it."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class EnvironmentLifecycle:
    """Creates, destroys and looks at the environments of every project."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        runtimes: RuntimeFactory | None = None,
        clock: Callable[[], datetime] = _utc_now,
        timer: Callable[[], float] = time.monotonic,
        health_timeout: float = 60.0,
        poll_interval: float = 0.2,
        await_router: bool = True,
    ) -> None:
        self.store = store
        self.settings = settings
        self.artifacts = LocalArtifactStore(settings.home / "artifacts")
        self.clock = clock
        self._timer = timer
        self._runtimes = runtimes or (lambda kind: runtime_for(kind, settings))
        self._health_timeout = health_timeout
        self._poll_interval = poll_interval
        self._await_router = await_router
        self._ports = threading.Lock()
        self._vault: SecretVault | None = None

    @property
    def vault(self) -> SecretVault:
        """The secrets of every environment (the key is read at the first use)."""
        if self._vault is None:
            self._vault = SecretVault(self.store.secrets, SecretBox.from_settings(self.settings))
        return self._vault

    # -- what to build -------------------------------------------------------------------

    def compose(
        self,
        *,
        project: str,
        name: str,
        artifact: str | None = None,
        commit: str | None = None,
        copy_from: str | None = None,
        ttl: timedelta | None = None,
    ) -> EnvironmentOrder:
        """The order for ``env up`` (see :func:`~andon.environments.orders.compose_order`)."""
        return compose_order(
            self.store,
            self.settings,
            project=project,
            name=name,
            now=self.clock(),
            artifact=artifact,
            commit=commit,
            copy_from=copy_from,
            ttl=ttl,
        )

    def order_of(self, record: EnvironmentRecord) -> EnvironmentOrder:
        """The order an existing environment was built from."""
        return order_from_record(self.store, self.settings, record)

    def get(self, project: str, name: str) -> EnvironmentRecord:
        """The environment ``name`` of ``project``; NotFoundError with a did-you-mean
        among its environments and those andon.yaml declares."""
        try:
            return self.store.environments.get(project, name)
        except NotFoundError:
            known = {record.name for record in self.store.environments.list(project)}
            known |= set(self.store.projects.get(project).spec.get("environments", {}))
            raise NotFoundError(
                f"no environment {name} in project {project}{did_you_mean(name, known)}; "
                "'andon env list' shows its environments."
            ) from None

    # -- creating --------------------------------------------------------------------------

    def begin(self, order: EnvironmentOrder, *, port: int | None = None) -> EnvironmentRecord:
        """Record the new environment (``creating``) with its router's port (``port``
        when it is free, as when it is recreated) and URL; ConflictError, saying what to
        do, when one of that name exists."""
        try:
            self.store.environments.create(
                project=order.project,
                name=order.name,
                kind=order.kind,
                expires_at=order.expires_at,
                copied_from=order.copied_from,
                message="creating",
            )
        except ConflictError:
            existing = self.store.environments.get(order.project, order.name)
            if existing.status is EnvironmentStatus.FAILED:
                raise ConflictError(
                    f"environment {order.name} of {order.project} failed ({existing.message}); "
                    f"'andon env down {order.name}' removes what is left of it first."
                ) from None
            raise ConflictError(
                f"environment {order.name} of {order.project} exists already "
                f"({existing.status.value}); 'andon env recreate {order.name}' rebuilds it, "
                f"'andon env down {order.name}' removes it."
            ) from None
        # Chosen and recorded under one lock: two environments created at once must not
        # both be given the same free port.
        with self._ports:
            port = choose_router_port(self._taken_ports(), port)
            return self.store.environments.update(
                order.project,
                order.name,
                artifact=order.artifact,
                version=order.version,
                router_port=port,
                url=f"http://{ROUTER_HOST}:{port}",
            )

    async def up(
        self, order: EnvironmentOrder, progress: Progress = ignore_progress
    ) -> EnvironmentRecord:
        """Create the environment :meth:`begin` recorded; its record, ready or failed."""
        try:
            runtime = self.runtime_for(order)
        except AndonError as exc:
            # A runtime that cannot be had (not written yet, misconfigured) made nothing.
            return self.store.environments.update(
                order.project, order.name, status=EnvironmentStatus.FAILED, message=exc.message
            )
        creation = EnvironmentCreation(
            store=self.store,
            settings=self.settings,
            artifacts=self.artifacts,
            runtime=runtime,
            order=order,
            secrets=self.secrets_of(order.project, order.name, order.copied_from),
            steps=StepRunner(progress, self._timer),
            timer=self._timer,
            health_timeout=self._health_timeout,
            poll_interval=self._poll_interval,
            await_router=self._await_router,
        )
        try:
            return await creation.run()
        finally:
            await runtime.close()

    # -- destroying ------------------------------------------------------------------------

    def begin_down(self, project: str, name: str) -> EnvironmentRecord:
        """Mark the environment ``destroying``; ConflictError when it is gone already."""
        record = self.get(project, name)
        if record.status is EnvironmentStatus.DESTROYED:
            raise ConflictError(f"environment {name} of {project} is destroyed already.")
        return self.store.environments.update(
            project, name, status=EnvironmentStatus.DESTROYING, message="destroying"
        )

    async def down(
        self, project: str, name: str, progress: Progress = ignore_progress
    ) -> EnvironmentRecord:
        """Stop its instances, drop its database, remove its files: destroyed. A step
        that fails leaves it ``destroying``, with the reason, to be tried again."""
        record = self.store.environments.get(project, name)
        steps = StepRunner(progress, self._timer)
        order = self._order_or_none(record)
        runtime = self.runtime_for(order)
        try:
            await destroy_environment(
                project,
                name,
                runtime=runtime,
                database=self._database_of(record, order),
                settings=self.settings,
                steps=steps,
            )
        except AndonError as exc:
            self.store.environments.update(
                project,
                name,
                message=f"failed to {steps.current}: {exc.message}; 'andon env down {name}' "
                "tries again.",
            )
            raise
        finally:
            await runtime.close()
        return self.store.environments.update(
            project,
            name,
            status=EnvironmentStatus.DESTROYED,
            message="destroyed",
            url=None,
            router_port=None,
            database=None,
            config_checksums={},
            drift=None,
        )

    # -- looking ---------------------------------------------------------------------------

    async def instances(self, record: EnvironmentRecord) -> list[InstanceStatus]:
        """What runs of the environment now, as its runtime reports it."""
        runtime = self.runtime_for(self._order_or_none(record))
        try:
            return await _instances_of(runtime, record.project, record.name)
        finally:
            await runtime.close()

    async def check_drift(self, project: str, name: str) -> list[DriftItem]:
        """How the environment differs from what its deploy declared; recorded with the
        time of the check."""
        record = self.get(project, name)
        if record.status is not EnvironmentStatus.READY:
            raise ConflictError(
                f"environment {name} of {project} is {record.status.value}, not ready; "
                "drift is checked on ready environments."
            )
        order = self.order_of(record)
        runtime = self.runtime_for(order)
        declared, where = declaration(
            order,
            record,
            manifest=await asyncio.to_thread(self.artifacts.manifest, order.artifact),
            secrets=self.secrets_of(project, name, record.copied_from),
            database=database_info(order.spec, project, name, self.settings),
            settings=self.settings,
            local=runtime.kind == RuntimeKind.LOCAL.value,
        )
        try:
            statuses = await _instances_of(runtime, project, name)
        finally:
            await runtime.close()
        actual = await asyncio.to_thread(observe_environment, where, statuses, declared)
        items = assess_drift(declared, actual)
        self.store.environments.update(
            project, name, drift=[item.to_dict() for item in items], drift_checked_at=self.clock()
        )
        return items

    async def snapshot(self, record: EnvironmentRecord) -> EnvironmentSnapshot:
        """What ``env diff`` compares of the environment."""
        if record.status is EnvironmentStatus.DESTROYED:
            raise UsageError(f"environment {record.name} of {record.project} is destroyed.")
        order = self.order_of(record)
        manifest = await asyncio.to_thread(self.artifacts.manifest, order.artifact)
        database = database_info(order.spec, record.project, record.name, self.settings)
        applied = await asyncio.to_thread(
            applied_migrations, database, declared_migrations(order.spec, manifest.files)
        )
        return snapshot(
            order,
            record,
            secrets=self.secrets_of(record.project, record.name, record.copied_from),
            applied=applied,
        )

    async def logs(
        self,
        record: EnvironmentRecord,
        *,
        process: str | None = None,
        version: str | None = None,
        tail: int = 200,
    ) -> dict[str, list[str]]:
        """The last ``tail`` lines of each instance's log (of ``process``, of ``version``
        or a prefix of it), by instance name; with ``process`` ``migrate``, ``seed`` or
        ``smoke``, the log of that step's commands. Secrets masked."""
        if process in COMMAND_LOGS:
            path = command_log(self.settings, record, str(process))
            text = await asyncio.to_thread(_read_text, path)
            return {str(process): text.splitlines()[-tail:]}
        chosen = choose_instances(
            record, await self.instances(record), process=process, version=version
        )
        order = self._order_or_none(record)
        secrets = secret_values(
            self.secrets_of(record.project, record.name, record.copied_from),
            database=self._database_of(record, order),
        )
        runtime = self.runtime_for(order)
        found: dict[str, list[str]] = {}
        try:
            for status in chosen:
                text = await runtime.logs(status.id, tail=tail)
                name = instance_name(record.project, record.name, status.id)
                found[name] = mask(text, secrets).splitlines()
        finally:
            await runtime.close()
        return found

    def secrets_of(self, project: str, name: str, copied_from: str | None) -> dict[str, str]:
        """The secrets of an environment in clear: those of the environment it copies,
        if any, under its own."""
        found: dict[str, str] = {}
        if copied_from is not None:
            found.update(self.vault.reveal(project, copied_from))
        found.update(self.vault.reveal(project, name))
        return found

    # -- helpers ---------------------------------------------------------------------------

    def runtime_for(self, order: EnvironmentOrder | None) -> Runtime:
        """The runtime the environment runs on (local, when its order cannot be read); the
        caller closes it."""
        kind = order.environment.runtime if order is not None else RuntimeKind.LOCAL
        return self._runtimes(kind.value)

    def _order_or_none(self, record: EnvironmentRecord) -> EnvironmentOrder | None:
        # A failed environment may have no artifact, or its repository may be gone: it
        # must still be removable.
        with contextlib.suppress(AndonError):
            return self.order_of(record)
        return None

    def _database_of(
        self, record: EnvironmentRecord, order: EnvironmentOrder | None
    ) -> DatabaseInfo | None:
        if record.database is not None:
            return DatabaseInfo.from_dict(record.database)
        if order is None:
            return None
        with contextlib.suppress(AndonError):
            return database_info(order.spec, record.project, record.name, self.settings)
        return None

    def _taken_ports(self) -> set[int]:
        return {
            record.router_port
            for record in self.store.environments.list()
            if record.router_port is not None and record.status is not EnvironmentStatus.DESTROYED
        }


async def _instances_of(runtime: Runtime, project: str, name: str) -> list[InstanceStatus]:
    try:
        return await runtime.instances(agent_environment(project, name))
    except NotFoundError:
        return []


def _read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
