"""The control plane in the background: ``andon start`` spawns ``andon server`` and
``andon agent`` as detached processes and records their pids, URLs and logs in
``ANDON_HOME/server.json`` and ``ANDON_HOME/agent.json`` (where the server finds its
agent); ``stop`` and ``status`` read those records. Only this module manages those
processes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from andon.errors import AndonError, PermanentError, PortInUseError
from andon.settings import Settings


@dataclass(frozen=True)
class ServerRecord:
    """What ``andon start`` wrote about the server it started."""

    pid: int
    url: str
    host: str
    port: int
    log: str
    started_at: str


_Record = TypeVar("_Record", "ServerRecord", "AgentRecord")


def _read_json(path: Path, kind: type[_Record]) -> _Record | None:
    """The record in ``path``, or None when there is none (or it is unreadable)."""
    try:
        return kind(**json.loads(path.read_text("utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _write_json(path: Path, record: ServerRecord | AgentRecord) -> None:
    """Write a record atomically, so that a reader never sees half a file."""
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(asdict(record), indent=2) + "\n", "utf-8")
    partial.replace(path)


def read_record(settings: Settings) -> ServerRecord | None:
    """The recorded server, or None when there is none (or the record is unreadable)."""
    return _read_json(settings.server_file, ServerRecord)


def write_record(settings: Settings, record: ServerRecord) -> None:
    """Record the server atomically."""
    _write_json(settings.server_file, record)


def forget_record(settings: Settings) -> None:
    """Remove the record of the server."""
    settings.server_file.unlink(missing_ok=True)


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is a running Andon process (not a zombie, not a reused pid)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    state = status.rsplit(")", 1)[-1].split()[0]
    return state != "Z" and b"andon" in cmdline


def health(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The server's health document, or None when it does not answer."""
    try:
        response = httpx.get(f"{url}/api/v1/health", timeout=timeout)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def spawn(settings: Settings, host: str, port: int) -> subprocess.Popen[bytes]:
    """Start ``andon server`` detached from this terminal, logging to ANDON_HOME."""
    arguments = ["server", "--host", host, "--port", str(port)]
    return _spawn_detached(settings, arguments, settings.server_log)


def _spawn_detached(
    settings: Settings, arguments: list[str], log_path: Path
) -> subprocess.Popen[bytes]:
    """``andon ARGUMENTS`` in a session of its own, its output appended to ``log_path``
    after a line saying when it started."""
    settings.home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ANDON_HOME": str(settings.home)}
    with open(log_path, "ab") as log:
        log.write(f"--- andon start {datetime.now(UTC).isoformat()} ---\n".encode())
        log.flush()
        return subprocess.Popen(
            [sys.executable, "-m", "andon", *arguments],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            close_fds=True,
        )


def await_healthy(
    process: subprocess.Popen[bytes],
    url: str,
    settings: Settings,
    *,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll until the server answers healthy; explain why when it exits or stays silent."""
    deadline = clock() + timeout
    while clock() < deadline:
        code = process.poll()
        if code is not None:
            raise PermanentError(
                f"the server exited with code {code} while starting: {_last_error(settings)} "
                f"(log: {settings.server_log})"
            )
        document = health(url, timeout=1.0)
        if document is not None:
            return document
        time.sleep(0.1)
    raise AndonError(
        f"the server did not become healthy within {timeout:.0f}s; see {settings.server_log}."
    )


def terminate(pid: int, *, grace: float = 15.0) -> bool:
    """SIGTERM the server, then SIGKILL after ``grace`` seconds; True when it was running."""
    if not is_alive(pid):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


def _last_error(settings: Settings, log: Path | None = None) -> str:
    """The last ``error:`` line the server (or the agent) wrote, which says why it stopped."""
    try:
        path = log or settings.server_log
        lines = path.read_text("utf-8", errors="replace").splitlines()
    except OSError:
        return "no log was written"
    for line in reversed(lines):
        if line.startswith("error: "):
            return line.removeprefix("error: ").rstrip()
    return "no reason was logged"


# -- the agent ---------------------------------------------------------------------------

AGENT_PORT = 8701
"""The agent's admin port when it is free (``andon agent``'s default)."""
_TOKEN_FILE = "agent-token"


@dataclass(frozen=True)
class AgentRecord:
    """What ``andon start`` wrote about the agent it started."""

    pid: int
    url: str
    state: str
    """Its state directory, which holds its token."""
    log: str
    started_at: str


def read_agent(settings: Settings) -> AgentRecord | None:
    """The recorded agent, or None."""
    return _read_json(settings.agent_file, AgentRecord)


def write_agent(settings: Settings, record: AgentRecord) -> None:
    """Record the agent atomically."""
    _write_json(settings.agent_file, record)


def forget_agent(settings: Settings) -> None:
    """Remove the record of the agent."""
    settings.agent_file.unlink(missing_ok=True)


def agent_port(wanted: int | None) -> int:
    """``wanted``, else the agent's usual port when it is free, else any free port."""
    if wanted is not None:
        return wanted
    for candidate in (AGENT_PORT, 0):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            return int(sock.getsockname()[1])
    raise AndonError("no free port for the agent's admin API; free one and start again.")


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def agent_health(record: AgentRecord, timeout: float = 2.0) -> dict[str, Any] | None:
    """The agent's health document, or None when it does not answer."""
    try:
        token = (Path(record.state) / _TOKEN_FILE).read_text("utf-8").strip()
        response = httpx.get(
            f"{record.url}/v1/health",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )
        data = response.json() if response.status_code == 200 else None
    except (OSError, httpx.HTTPError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def spawn_agent(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    """Start ``andon agent`` detached from this terminal, logging to ANDON_HOME."""
    arguments = ["agent", "--admin-port", str(port), "--state", str(settings.agent_dir)]
    return _spawn_detached(settings, arguments, settings.agent_log)


def await_agent(
    process: subprocess.Popen[bytes],
    record: AgentRecord,
    settings: Settings,
    *,
    timeout: float,
) -> dict[str, Any]:
    """Poll until the agent answers healthy; explain why when it exits or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            reason = _last_error(settings, settings.agent_log)
            message = (
                f"the agent exited with code {code} while starting: {reason} "
                f"(log: {settings.agent_log})"
            )
            # Another process took the port between the look at it and the agent's bind.
            if "already in use" in reason:
                raise PortInUseError(message)
            raise PermanentError(message)
        document = agent_health(record, timeout=1.0)
        if document is not None:
            return document
        time.sleep(0.1)
    raise AndonError(
        f"the agent did not become healthy within {timeout:.0f}s; see {settings.agent_log}."
    )
