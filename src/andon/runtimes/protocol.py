"""The :class:`Runtime` Protocol — where an environment's instances run, as the engines
see it — and the data it speaks: what to start (:class:`InstanceSpec`) and what runs
(:class:`InstanceStatus`, in the fixed :class:`InstancePhase` vocabulary that the agent
uses too). One module per runtime implements it (``local``, and a ``fake`` for tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol


class InstancePhase(StrEnum):
    """Where an instance is in its life (the agent's vocabulary, value for value)."""

    STARTING = "starting"
    READY = "ready"
    UNHEALTHY = "unhealthy"
    CRASHED = "crashed"
    CRASH_LOOP = "crash_loop"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(frozen=True)
class InstanceSpec:
    """One instance to start: a process of a version of the service, in an environment."""

    environment: str
    version: str
    process: str
    command: str
    cwd: Path
    """The unpacked release to run from (an absolute path on the runtime's host)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Its variables; the runtime adds ``PORT``, ``ANDON_ENV``, ``ANDON_VERSION`` and
    ``ANDON_INSTANCE``."""
    health_path: str | None = None
    stop_timeout: float = 10.0
    port: int | None = None
    """A fixed port; the runtime picks a free one when unset."""
    id: str | None = None
    """A fixed instance id; the runtime makes one up when unset."""

    def to_dict(self) -> dict[str, Any]:
        """The spec as the agent's admin API takes it (the environment is in the URL)."""
        data: dict[str, Any] = {
            "version": self.version,
            "process": self.process,
            "command": self.command,
            "cwd": str(self.cwd),
            "env": dict(self.env),
            "health_path": self.health_path,
            "stop_timeout": self.stop_timeout,
            "port": self.port,
        }
        if self.id is not None:
            data["id"] = self.id
        return data


@dataclass(frozen=True)
class InstanceStatus:
    """One instance as its runtime reports it."""

    id: str
    environment: str
    version: str
    process: str
    phase: InstancePhase
    message: str
    """A sentence on why it is in its phase."""
    port: int
    pid: int | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    draining: bool = False
    log_tail: tuple[str, ...] = ()
    """The last lines of its log, when it is in a crash loop."""

    @property
    def serving(self) -> bool:
        """Whether it gets requests: ready and not draining."""
        return self.phase is InstancePhase.READY and not self.draining

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InstanceStatus:
        """The status from the agent's admin API's JSON."""
        return cls(
            id=str(data["id"]),
            environment=str(data["environment"]),
            version=str(data["version"]),
            process=str(data["process"]),
            phase=InstancePhase(data["phase"]),
            message=str(data.get("message", "")),
            port=int(data["port"]),
            pid=data.get("pid"),
            restarts=int(data.get("restarts", 0)),
            last_exit_code=data.get("last_exit_code"),
            draining=bool(data.get("draining", False)),
            log_tail=tuple(data.get("log_tail") or ()),
        )


class Runtime(Protocol):
    """Where instances run. Every method may raise an :class:`~andon.errors.AndonError`:
    ``NotFoundError`` for an unknown environment or instance, ``ConflictError``,
    ``UsageError`` for a spec that cannot run, a ``TemporaryError`` when the runtime
    cannot be reached. ``verify_*`` answer True, False, or None for "cannot tell"."""

    kind: str

    async def ensure_environment(
        self, environment: str, *, listen_port: int | None, routing: Mapping[str, Any]
    ) -> None:
        """Create the environment, or update it to this listen port and routing."""

    async def set_routing(self, environment: str, routing: Mapping[str, Any]) -> None:
        """Replace the environment's routing configuration."""

    async def remove_environment(self, environment: str) -> None:
        """Stop every instance of the environment and remove it."""

    async def start_instance(self, spec: InstanceSpec) -> InstanceStatus:
        """Start an instance; its status (usually ``starting``), with its port."""

    async def stop_instance(self, instance_id: str) -> InstanceStatus:
        """Drain and stop an instance gracefully; its final status (``stopped``)."""

    async def instances(self, environment: str) -> list[InstanceStatus]:
        """The instances of an environment."""

    async def logs(self, instance_id: str, *, tail: int = 100) -> str:
        """The last ``tail`` lines of an instance's log."""

    async def traffic(self, environment: str) -> dict[str, Any]:
        """What the environment's router counted per version since it started: requests
        by status class and a latency histogram (the router's snapshot)."""

    async def verify_environment(
        self, environment: str, *, listen_port: int | None, routing: Mapping[str, Any]
    ) -> bool | None:
        """Whether the environment exists with this listen port and routing."""

    async def verify_instance(self, instance_id: str) -> bool | None:
        """Whether the instance runs and gets requests (ready, not draining)."""

    async def close(self) -> None:
        """Release the runtime's connections."""
