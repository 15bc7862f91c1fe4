"""The agent's desired state — environments (router listen port and configuration) and
instances (spec, pid and start time) — and the file that keeps it,
``STATE_DIR/agent-state.json``, rewritten atomically after every change so that an agent
killed at any moment restarts from a whole file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from andon.agent.instances import InstanceRecord
from andon.errors import ConfigurationError

STATE_FILE_NAME = "agent-state.json"
FORMAT_VERSION = 1


@dataclass
class EnvironmentState:
    """One environment on this host: where its router listens and how it routes."""

    name: str
    listen_port: int | None = None
    """The port the environment's router listens on; None for no router."""
    routing: dict[str, Any] = field(default_factory=dict)
    """The router's configuration, as the control plane sent it (opaque to the agent)."""

    def to_dict(self) -> dict[str, Any]:
        """The environment as JSON data."""
        return {"name": self.name, "listen_port": self.listen_port, "routing": self.routing}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnvironmentState:
        """The environment from :meth:`to_dict`'s data."""
        return cls(
            name=str(data["name"]),
            listen_port=data.get("listen_port"),
            routing=dict(data.get("routing") or {}),
        )


@dataclass
class AgentState:
    """Everything the agent must remember across its own restarts."""

    environments: dict[str, EnvironmentState] = field(default_factory=dict)
    instances: dict[str, InstanceRecord] = field(default_factory=dict)

    def to_document(self) -> dict[str, Any]:
        """The state as the file's JSON document."""
        return {
            "format": FORMAT_VERSION,
            "environments": [env.to_dict() for env in self.environments.values()],
            "instances": [instance.to_record() for instance in self.instances.values()],
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> AgentState:
        """The state from :meth:`to_document`'s JSON document."""
        environments = [EnvironmentState.from_dict(e) for e in document.get("environments", [])]
        instances = [InstanceRecord.from_record(i) for i in document.get("instances", [])]
        return cls(
            environments={env.name: env for env in environments},
            instances={instance.id: instance for instance in instances},
        )


class StateFile:
    """Reads and atomically rewrites the agent's state file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> AgentState:
        """The saved state; an empty one when there is no file yet."""
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            return AgentState()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the agent's state file {self.path}: {exc.strerror}; "
                "fix its permissions."
            ) from exc
        try:
            document = json.loads(text)
            if document.get("format") != FORMAT_VERSION:
                raise ValueError(f"unknown format {document.get('format')!r}")
            return AgentState.from_document(document)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigurationError(
                f"the agent's state file {self.path} is unreadable ({exc}); move it aside "
                "to start with no environments (running instances are then not adopted)."
            ) from exc

    def save(self, state: AgentState) -> None:
        """Write ``state`` whole: a temporary file, fsync, rename over the old one, and
        fsync the directory, so that a crash leaves either the old file or the new one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(state.to_document(), indent=2, sort_keys=True).encode() + b"\n"
        fd, temporary = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".partial", dir=self.path.parent
        )
        try:
            with os.fdopen(fd, "wb") as partial:
                partial.write(data)
                partial.flush()
                os.fsync(partial.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _fsync_directory(self.path.parent)


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory's entry is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
