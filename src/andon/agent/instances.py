"""What the agent supervises: an instance's spec (what to run), its phase (the fixed
vocabulary that the admin API, the runtimes and the router speak) and its record (what the
supervisor knows of it, persisted in the state file).

The supervisor changes each :class:`InstanceRecord`; the admin API and the router read
frozen :class:`InstanceStatus` snapshots of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from andon.errors import UsageError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
"""Environment, process and instance names: they become file names and URL segments."""

_NAME = re.compile(NAME_PATTERN)


class InstancePhase(StrEnum):
    """Where an instance is in its life.

    ``starting → ready → (unhealthy → starting) | (crashed → starting) | crash_loop`` and,
    when asked, ``stopping → stopped``.
    """

    STARTING = "starting"
    READY = "ready"
    UNHEALTHY = "unhealthy"
    CRASHED = "crashed"
    CRASH_LOOP = "crash_loop"
    STOPPING = "stopping"
    STOPPED = "stopped"


def check_name(kind: str, value: str) -> str:
    """``value`` when it is usable as a name of ``kind``; otherwise a UsageError."""
    if not _NAME.match(value):
        raise UsageError(
            f"{kind} name {value!r} is not valid; use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit (at most 128 characters)."
        )
    return value


@dataclass(frozen=True)
class InstanceSpec:
    """What to run: one process of one version of a service, in one environment."""

    environment: str
    version: str
    process: str
    """The process's name in andon.yaml (``web``, ``worker``)."""
    command: str
    """Run with bash from ``cwd``; its process group is the instance."""
    cwd: Path
    """The unpacked release to run from."""
    env: Mapping[str, str] = field(default_factory=dict)
    """The caller's variables; the agent adds ``PORT``, ``ANDON_ENV``, ``ANDON_VERSION``
    and ``ANDON_INSTANCE``."""
    health_path: str | None = None
    """Answers 2xx or 3xx when the instance is ready; without one, an instance is ready
    once it has run for a second."""
    stop_timeout: float = 10.0
    """Seconds between SIGTERM and SIGKILL when it is stopped."""
    port: int | None = None
    """The port to give it; the agent picks a free one when unset."""

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON data (state file)."""
        return {
            "environment": self.environment,
            "version": self.version,
            "process": self.process,
            "command": self.command,
            "cwd": str(self.cwd),
            "env": dict(self.env),
            "health_path": self.health_path,
            "stop_timeout": self.stop_timeout,
            "port": self.port,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InstanceSpec:
        """The spec from :meth:`to_dict`'s data."""
        return cls(
            environment=str(data["environment"]),
            version=str(data["version"]),
            process=str(data["process"]),
            command=str(data["command"]),
            cwd=Path(data["cwd"]),
            env={str(key): str(value) for key, value in dict(data.get("env") or {}).items()},
            health_path=data.get("health_path"),
            stop_timeout=float(data.get("stop_timeout", 10.0)),
            port=data.get("port"),
        )


@dataclass(frozen=True)
class InstanceStatus:
    """A snapshot of one instance, as the admin API answers and the router reads it."""

    id: str
    environment: str
    version: str
    process: str
    phase: InstancePhase
    message: str
    """A sentence on why it is in its phase."""
    port: int
    pid: int | None
    started_at: float | None
    """When its current process started (seconds since the epoch)."""
    restarts: int
    last_exit_code: int | None
    """How its last process ended: negative for a signal, None when unknown."""
    draining: bool
    """True once it is being stopped: routing must stop sending it requests."""
    health_path: str | None
    log_tail: tuple[str, ...] = ()
    """The last lines of its log, kept when it is in a crash loop."""

    @property
    def serving(self) -> bool:
        """Whether requests may be routed to it: ready and not draining."""
        return self.phase is InstancePhase.READY and not self.draining

    def to_dict(self) -> dict[str, Any]:
        """The status as the admin API's JSON."""
        started = (
            datetime.fromtimestamp(self.started_at, UTC).isoformat()
            if self.started_at is not None
            else None
        )
        return {
            "id": self.id,
            "environment": self.environment,
            "version": self.version,
            "process": self.process,
            "phase": self.phase.value,
            "message": self.message,
            "port": self.port,
            "pid": self.pid,
            "started_at": started,
            "restarts": self.restarts,
            "last_exit_code": self.last_exit_code,
            "draining": self.draining,
            "health_path": self.health_path,
            "log_tail": list(self.log_tail),
        }


@dataclass
class InstanceRecord:
    """The supervisor's record of one instance; persisted after every change."""

    id: str
    spec: InstanceSpec
    port: int
    phase: InstancePhase = InstancePhase.STARTING
    message: str = "starting"
    pid: int | None = None
    start_ticks: str | None = None
    """The process's start time in /proc (clock ticks since boot): with the pid, its
    identity, since pids are reused."""
    started_at: float | None = None
    restarts: int = 0
    last_exit_code: int | None = None
    draining: bool = False
    log_tail: tuple[str, ...] = ()

    def status(self) -> InstanceStatus:
        """A frozen snapshot of the record."""
        return InstanceStatus(
            id=self.id,
            environment=self.spec.environment,
            version=self.spec.version,
            process=self.spec.process,
            phase=self.phase,
            message=self.message,
            port=self.port,
            pid=self.pid,
            started_at=self.started_at,
            restarts=self.restarts,
            last_exit_code=self.last_exit_code,
            draining=self.draining,
            health_path=self.spec.health_path,
            log_tail=self.log_tail,
        )

    def to_record(self) -> dict[str, Any]:
        """The record as JSON data (state file)."""
        return {
            "id": self.id,
            "spec": self.spec.to_dict(),
            "port": self.port,
            "phase": self.phase.value,
            "message": self.message,
            "pid": self.pid,
            "start_ticks": self.start_ticks,
            "started_at": self.started_at,
            "restarts": self.restarts,
            "last_exit_code": self.last_exit_code,
            "draining": self.draining,
            "log_tail": list(self.log_tail),
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> InstanceRecord:
        """The record from :meth:`to_record`'s data."""
        return cls(
            id=str(data["id"]),
            spec=InstanceSpec.from_dict(data["spec"]),
            port=int(data["port"]),
            phase=InstancePhase(data.get("phase", "starting")),
            message=str(data.get("message", "")),
            pid=data.get("pid"),
            start_ticks=data.get("start_ticks"),
            started_at=data.get("started_at"),
            restarts=int(data.get("restarts", 0)),
            last_exit_code=data.get("last_exit_code"),
            draining=bool(data.get("draining", False)),
            log_tail=tuple(data.get("log_tail") or ()),
        )
