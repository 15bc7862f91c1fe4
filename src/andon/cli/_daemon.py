"""The control plane in the background: ``andon start`` spawns ``andon server`` as a
detached process and records its pid, URL and log in ``ANDON_HOME/server.json``;
``stop`` and ``status`` read that record. Only this module manages those processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from andon.errors import AndonError, PermanentError
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


def read_record(settings: Settings) -> ServerRecord | None:
    """The recorded server, or None when there is none (or the record is unreadable)."""
    try:
        data = json.loads(settings.server_file.read_text("utf-8"))
        return ServerRecord(**data)
    except (OSError, ValueError, TypeError):
        return None


def write_record(settings: Settings, record: ServerRecord) -> None:
    """Record the server atomically, so that a reader never sees half a file."""
    partial = settings.server_file.with_suffix(".json.partial")
    partial.write_text(json.dumps(asdict(record), indent=2) + "\n", "utf-8")
    partial.replace(settings.server_file)


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
    settings.home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ANDON_HOME": str(settings.home)}
    with open(settings.server_log, "ab") as log:
        log.write(f"--- andon start {datetime.now(UTC).isoformat()} ---\n".encode())
        log.flush()
        return subprocess.Popen(
            [sys.executable, "-m", "andon", "server", "--host", host, "--port", str(port)],
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


def _last_error(settings: Settings) -> str:
    """The last ``error:`` line the server wrote, which says why it stopped."""
    try:
        lines = settings.server_log.read_text("utf-8", errors="replace").splitlines()
    except OSError:
        return "no log was written"
    for line in reversed(lines):
        if line.startswith("error: "):
            return line.removeprefix("error: ").rstrip()
    return "no reason was logged"
