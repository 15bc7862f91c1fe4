"""An in-memory runtime for engine tests: it keeps environments and instances in dicts,
starts nothing, and lets a test decide what happens to instances (ready at once or later,
crash, stop answering). It honours the same contract as the local runtime; the shared
contract tests run against both.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from andon.errors import ConflictError, NotFoundError, ServerUnreachableError
from andon.runtimes.protocol import InstancePhase, InstanceSpec, InstanceStatus


@dataclass
class FakeEnvironment:
    """An environment as the fake runtime holds it."""

    name: str
    listen_port: int | None
    routing: dict[str, Any] = field(default_factory=dict)


class FakeRuntime:
    """An in-memory :class:`~andon.runtimes.Runtime`.

    New instances are ``ready`` at once unless ``ready_at_once`` is False (then
    :meth:`make_ready` readies them). With ``reachable`` False every call raises
    :class:`~andon.errors.ServerUnreachableError` and ``verify_*`` cannot tell.
    ``actions`` records each change asked of it, in order, for tests to assert on.
    """

    kind = "fake"

    def __init__(self, *, ready_at_once: bool = True, first_port: int = 20000) -> None:
        self.ready_at_once = ready_at_once
        self.reachable = True
        self.environments: dict[str, FakeEnvironment] = {}
        self.actions: list[tuple[str, str]] = []
        self.traffic_snapshots: dict[str, dict[str, Any]] = {}
        self._instances: dict[str, InstanceStatus] = {}
        self._logs: dict[str, list[str]] = {}
        self._ports = itertools.count(first_port)
        self._serial = itertools.count(1)

    # -- the Runtime Protocol ------------------------------------------------------------

    async def ensure_environment(
        self, environment: str, *, listen_port: int | None, routing: Mapping[str, Any]
    ) -> None:
        """Create or update the environment."""
        self._answer()
        for other in self.environments.values():
            taken = listen_port is not None and other.listen_port == listen_port
            if taken and other.name != environment:
                raise ConflictError(f"port {listen_port} is taken by {other.name!r}.")
        self.environments[environment] = FakeEnvironment(environment, listen_port, dict(routing))
        self.actions.append(("ensure_environment", environment))

    async def set_routing(self, environment: str, routing: Mapping[str, Any]) -> None:
        """Replace the environment's routing."""
        self._environment(environment).routing = dict(routing)
        self.actions.append(("set_routing", environment))

    async def remove_environment(self, environment: str) -> None:
        """Stop the environment's instances and forget it."""
        self._environment(environment)
        for status in list(self._instances.values()):
            if status.environment == environment:
                await self.stop_instance(status.id)
        del self.environments[environment]
        self.actions.append(("remove_environment", environment))

    async def start_instance(self, spec: InstanceSpec) -> InstanceStatus:
        """Record a new instance (ready at once, or starting)."""
        self._environment(spec.environment)
        instance_id = spec.id or f"{spec.environment}-{spec.process}-{next(self._serial)}"
        if instance_id in self._instances:
            raise ConflictError(f"instance {instance_id!r} exists already.")
        phase = InstancePhase.READY if self.ready_at_once else InstancePhase.STARTING
        status = InstanceStatus(
            id=instance_id,
            environment=spec.environment,
            version=spec.version,
            process=spec.process,
            phase=phase,
            message=f"{phase.value} (fake).",
            port=spec.port or next(self._ports),
            pid=None,
        )
        self._instances[instance_id] = status
        self._logs[instance_id] = [f"started {spec.command}"]
        self.actions.append(("start_instance", instance_id))
        return status

    async def stop_instance(self, instance_id: str) -> InstanceStatus:
        """Forget the instance; its final status."""
        status = self._instance(instance_id)
        del self._instances[instance_id]
        self.actions.append(("stop_instance", instance_id))
        return dataclasses.replace(
            status, phase=InstancePhase.STOPPED, message="stopped (fake).", draining=True
        )

    async def instances(self, environment: str) -> list[InstanceStatus]:
        """The environment's instances, by id."""
        self._environment(environment)
        found = [s for s in self._instances.values() if s.environment == environment]
        return sorted(found, key=lambda status: status.id)

    async def logs(self, instance_id: str, *, tail: int = 100) -> str:
        """The lines written with :meth:`write_log` (and a start line)."""
        self._answer()
        if instance_id not in self._logs:
            raise NotFoundError(f"there is no instance {instance_id!r}.")
        return "".join(f"{line}\n" for line in self._logs[instance_id][-tail:])

    async def traffic(self, environment: str) -> dict[str, Any]:
        """The counters a test set with :meth:`count_traffic` (none at first)."""
        self._answer()
        if self._environment(environment).listen_port is None:
            raise NotFoundError(f"environment {environment!r} has no router.")
        return copy.deepcopy(self.traffic_snapshots.get(environment, {"versions": {}}))

    async def verify_environment(
        self, environment: str, *, listen_port: int | None, routing: Mapping[str, Any]
    ) -> bool | None:
        """Whether the environment is held with this port and routing."""
        if not self.reachable:
            return None
        held = self.environments.get(environment)
        return held is not None and (held.listen_port, held.routing) == (listen_port, routing)

    async def verify_instance(self, instance_id: str) -> bool | None:
        """Whether the instance is ready and not draining."""
        if not self.reachable:
            return None
        status = self._instances.get(instance_id)
        return status is not None and status.serving

    async def close(self) -> None:
        """Nothing to close."""

    # -- what tests do to it -----------------------------------------------------------

    def count_traffic(self, environment: str, snapshot: Mapping[str, Any]) -> None:
        """What :meth:`traffic` answers from now on for the environment (a router
        snapshot: ``{"versions": {name: {"requests": ..., "latency": ...}}}``)."""
        self.traffic_snapshots[environment] = copy.deepcopy(dict(snapshot))

    def make_ready(self, instance_id: str) -> None:
        """The instance passes its health check."""
        self._set(instance_id, phase=InstancePhase.READY, message="ready (fake).")

    def crash(
        self, instance_id: str, *, exit_code: int = 1, loop: bool = False, log: str = ""
    ) -> None:
        """The instance exits with ``exit_code``; with ``loop``, for good (crash loop)."""
        status = self._instance(instance_id)
        lines = tuple(log.splitlines())
        self._logs[instance_id].extend(lines)
        self._set(
            instance_id,
            phase=InstancePhase.CRASH_LOOP if loop else InstancePhase.CRASHED,
            message=f"exited with code {exit_code} (fake).",
            last_exit_code=exit_code,
            restarts=status.restarts + (0 if loop else 1),
            log_tail=lines[-20:] if loop else (),
        )

    def write_log(self, instance_id: str, text: str) -> None:
        """Append lines to the instance's log."""
        self._instance(instance_id)
        self._logs[instance_id].extend(text.splitlines())

    def _set(self, instance_id: str, **changes: Any) -> None:
        self._instances[instance_id] = dataclasses.replace(self._instance(instance_id), **changes)

    def _answer(self) -> None:
        if not self.reachable:
            raise ServerUnreachableError("the fake runtime is unreachable (as the test asked).")

    def _environment(self, name: str) -> FakeEnvironment:
        self._answer()
        try:
            return self.environments[name]
        except KeyError:
            raise NotFoundError(f"there is no environment {name!r}; create it first.") from None

    def _instance(self, instance_id: str) -> InstanceStatus:
        self._answer()
        try:
            return self._instances[instance_id]
        except KeyError:
            raise NotFoundError(f"there is no instance {instance_id!r}.") from None
