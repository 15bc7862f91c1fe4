"""The agent: its desired state (environments and instances), the supervisor that acts
on the instances, and the data plane (router) that it keeps told. Every change is written
to the state file before anyone hears of it. The admin API calls it; ``andon agent`` runs it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from andon.agent.data_plane import Backend, DataPlane, EnvironmentView, NullDataPlane
from andon.agent.instances import (
    InstancePhase,
    InstanceRecord,
    InstanceSpec,
    InstanceStatus,
    check_name,
)
from andon.agent.policy import SupervisorPolicy
from andon.agent.state import STATE_FILE_NAME, AgentState, EnvironmentState, StateFile
from andon.agent.supervising import Supervisor
from andon.errors import ConflictError, NotFoundError, TemporaryError, UsageError

log = logging.getLogger("andon.agent")


class Agent:
    """One host's agent: environments, their instances and their routing.

    Call :meth:`start` on the event loop that will run it (it loads the state file and
    re-adopts instances) and :meth:`close` when done (instances keep running).
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        policy: SupervisorPolicy | None = None,
        data_plane: DataPlane | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state_dir = state_dir
        self.policy = policy or SupervisorPolicy()
        self.data_plane: DataPlane = data_plane if data_plane is not None else NullDataPlane()
        self.state_file = StateFile(state_dir / STATE_FILE_NAME)
        self.state = AgentState()
        self.supervisor = Supervisor(
            state_dir / "logs", policy=self.policy, on_change=self._instance_changed, clock=clock
        )
        self._clock = clock
        self._started = clock()
        self._lock = asyncio.Lock()
        self._published: dict[str, EnvironmentView] = {}
        self._publishing = False

    @property
    def logs_dir(self) -> Path:
        """Where the instances' logs are: ``<instance>.log``, rotated to ``.1`` …"""
        return self.supervisor.logs_dir

    def uptime(self) -> float:
        """Seconds since this agent was created."""
        return self._clock() - self._started

    async def start(self) -> None:
        """Load the state, re-adopt or restart its instances, and restore the routing."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.state = self.state_file.load()
        for instance in list(self.state.instances.values()):
            if instance.phase is InstancePhase.STOPPED:
                del self.state.instances[instance.id]
            else:
                await self.supervisor.resume(instance)
        self._save()
        self._publishing = True
        for name in self.state.environments:
            await self._publish(name)
        try:
            await self.data_plane.prune(set(self.state.environments))
        except Exception:
            log.exception("the router could not close what a previous agent left running")

    async def close(self) -> None:
        """Stop supervising; the instances (and a router that outlives the agent) keep
        running for the next agent."""
        await self.supervisor.detach()
        self._publishing = False
        await self.data_plane.close()
        self._save()

    # -- environments ------------------------------------------------------------------

    def environments(self) -> list[EnvironmentState]:
        """Every environment on this host, by name."""
        return sorted(self.state.environments.values(), key=lambda env: env.name)

    def environment(self, name: str) -> EnvironmentState:
        """One environment; NotFoundError when it does not exist here."""
        try:
            return self.state.environments[name]
        except KeyError:
            raise NotFoundError(
                f"there is no environment {name!r} on this agent; create it first."
            ) from None

    async def ensure_environment(
        self, name: str, *, listen_port: int | None, routing: Mapping[str, Any]
    ) -> tuple[EnvironmentState, bool]:
        """Create the environment or update it to these settings; True when created."""
        check_name("environment", name)
        async with self._lock:
            for other in self.state.environments.values():
                taken = listen_port is not None and other.listen_port == listen_port
                if taken and other.name != name:
                    raise ConflictError(
                        f"port {listen_port} is the listen port of environment "
                        f"{other.name!r} already; choose another."
                    )
            created = name not in self.state.environments
            self.state.environments[name] = EnvironmentState(name, listen_port, dict(routing))
            self._save()
        await self._publish(name)
        return self.state.environments[name], created

    async def set_routing(self, name: str, routing: Mapping[str, Any]) -> EnvironmentState:
        """Replace the environment's routing configuration."""
        async with self._lock:
            environment = self.environment(name)
            environment.routing = dict(routing)
            self._save()
        await self._publish(name)
        return environment

    async def remove_environment(self, name: str) -> list[InstanceStatus]:
        """Stop every instance of the environment, then forget it; their final statuses."""
        async with self._lock:
            self.environment(name)
            ids = [r.id for r in self.supervisor.records() if r.spec.environment == name]
            stopped = await asyncio.gather(*(self.supervisor.stop(i) for i in ids))
            del self.state.environments[name]
            self._save()
            self._published.pop(name, None)
            await self.data_plane.remove(name)
        return list(stopped)

    def view(self, name: str) -> EnvironmentView:
        """What the router is told about one environment."""
        environment = self.environment(name)
        backends = tuple(
            Backend(instance=s.id, version=s.version, process=s.process, port=s.port)
            for s in self.instances(name)
            if s.serving
        )
        return EnvironmentView(
            name=name,
            listen_port=environment.listen_port,
            routing=dict(environment.routing),
            backends=backends,
        )

    # -- instances ---------------------------------------------------------------------

    async def start_instance(
        self, spec: InstanceSpec, *, instance_id: str | None = None
    ) -> InstanceStatus:
        """Start an instance in an existing environment; its status, port included."""
        check_name("process", spec.process)
        async with self._lock:
            self.environment(spec.environment)
            if not spec.cwd.is_dir():
                raise UsageError(
                    f"the directory {spec.cwd} does not exist; unpack the release there first."
                )
            if instance_id is None:
                instance_id = f"{spec.environment}-{spec.process}-{secrets.token_hex(4)}"
            check_name("instance", instance_id)
            if instance_id in self.supervisor:
                raise ConflictError(
                    f"instance {instance_id!r} exists already; stop it or choose another id."
                )
            instance = InstanceRecord(id=instance_id, spec=spec, port=self._port_for(spec))
            await self.supervisor.launch(instance)
        return instance.status()

    async def stop_instance(self, instance_id: str) -> InstanceStatus:
        """Drain and stop an instance, then forget it; its final status."""
        return await self.supervisor.stop(instance_id)

    def instance(self, instance_id: str) -> InstanceStatus:
        """One instance's status."""
        return self.supervisor.record(instance_id).status()

    def instances(self, environment: str) -> list[InstanceStatus]:
        """The instances of an environment, by id."""
        self.environment(environment)
        records = [r for r in self.supervisor.records() if r.spec.environment == environment]
        return [record.status() for record in sorted(records, key=lambda r: r.id)]

    def all_instances(self) -> list[InstanceStatus]:
        """Every instance on this host, by id."""
        return [r.status() for r in sorted(self.supervisor.records(), key=lambda r: r.id)]

    def log_tail(self, instance_id: str, lines: int) -> list[str]:
        """The last lines of an instance's log; a stopped instance's log is kept too."""
        check_name("instance", instance_id)
        instance_log = self.supervisor.log_of(instance_id)
        if instance_id not in self.supervisor and not instance_log.path.exists():
            raise NotFoundError(f"there is no instance {instance_id!r} on this agent.")
        return instance_log.tail(lines)

    # -- acting ------------------------------------------------------------------------

    def _port_for(self, spec: InstanceSpec) -> int:
        taken = {record.port for record in self.supervisor.records()}
        taken.update(e.listen_port for e in self.state.environments.values() if e.listen_port)
        if spec.port is not None:
            if spec.port in taken or not _can_bind(spec.port):
                raise ConflictError(
                    f"port {spec.port} is in use on this host; choose another, or leave the "
                    "port out and the agent picks a free one."
                )
            return spec.port
        while True:
            port = _free_port()
            if port not in taken:
                return port

    async def _instance_changed(self, instance: InstanceRecord) -> None:
        if instance.phase is InstancePhase.STOPPED:
            self.state.instances.pop(instance.id, None)
        else:
            self.state.instances[instance.id] = instance
        try:
            self._save()
        except TemporaryError as exc:
            log.error("%s", exc.message)
        await self._publish(instance.spec.environment)

    async def _publish(self, name: str) -> None:
        """Tell the data plane about the environment if its view has changed."""
        if not self._publishing or name not in self.state.environments:
            return
        view = self.view(name)
        if self._published.get(name) == view:
            return
        try:
            await self.data_plane.apply(view)
        except Exception:
            log.exception("the router could not apply environment %s", name)
            return
        self._published[name] = view

    def _save(self) -> None:
        try:
            self.state_file.save(self.state)
        except OSError as exc:
            raise TemporaryError(
                f"the agent could not write its state file {self.state_file.path}: "
                f"{exc.strerror}; free space or fix permissions under {self.state_dir}."
            ) from exc


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _can_bind(port: int) -> bool:
    with socket.socket() as sock:
        # As the instance will: a port in TIME_WAIT is free to take.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno in {errno.EADDRINUSE, errno.EACCES}:
                return False
            raise
    return True
