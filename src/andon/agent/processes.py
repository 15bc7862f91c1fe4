"""The processes of instances: started in a session of their own with their output going
straight into their log file, so that they outlive the agent and never wait for it;
recognised again after the agent restarts by pid and start time; stopped as a whole group.

The supervisor is the only caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

_PROC = Path("/proc")
# Children left running when the agent lets go of them (it is stopping). Holding on to
# their Popen objects keeps the interpreter from reaping them behind the next agent's back
# or warning that they still run; they are meant to.
_LEFT_RUNNING: list[subprocess.Popen[bytes]] = []
# How often a stopping group is looked at, and how long a SIGKILLed group may take to go.
_STOP_POLL = 0.05
_KILL_WAIT = 5.0


def start_ticks(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot), or None when it does not exist."""
    fields = _stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def is_running(pid: int, ticks: str | None) -> bool:
    """Whether ``pid`` is still the very process recorded (same start time), and alive."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) <= 19 or fields[0] in {"Z", "X"}:
        return False
    return ticks is None or fields[19] == ticks


class InstanceProcess:
    """The leader of one instance's process group: a child of this agent, or a process
    an earlier agent started and this one adopted (whose exit status it cannot learn)."""

    def __init__(
        self,
        instance_id: str,
        pid: int,
        ticks: str | None,
        popen: subprocess.Popen[bytes] | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.pid = pid
        self.ticks = ticks
        self._popen = popen
        self.exit_code: int | None = None

    @classmethod
    def spawn(
        cls, instance_id: str, command: str, *, cwd: Path, env: Mapping[str, str], log: Path
    ) -> InstanceProcess:
        """Start ``command`` with bash in a new session, appending its output to ``log``.

        The file, not a pipe, is its stdout: nothing it writes waits for the agent, and
        the agent's death cannot break its output (no SIGPIPE).
        """
        with open(log, "ab") as output:
            popen = subprocess.Popen(
                [shutil.which("bash") or "/bin/bash", "-c", command],
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        return cls(instance_id, popen.pid, start_ticks(popen.pid), popen)

    @classmethod
    def adopt(cls, instance_id: str, pid: int, ticks: str | None) -> InstanceProcess | None:
        """The recorded process if it still runs (the same one, not a reused pid)."""
        return cls(instance_id, pid, ticks) if is_running(pid, ticks) else None

    @property
    def adopted(self) -> bool:
        """Whether an earlier agent started it (its exit status will be unknown)."""
        return self._popen is None

    def let_go(self) -> None:
        """The agent stops watching; the process runs on without it."""
        if self._popen is not None and self._popen.returncode is None:
            _LEFT_RUNNING.append(self._popen)
        self._popen = None

    def has_exited(self) -> bool:
        """Whether the leader has ended; a child's exit status lands in ``exit_code``."""
        if self._popen is not None:
            code = self._popen.poll()
            if code is not None:
                self.exit_code = code
                return True
            return False
        return not is_running(self.pid, self.ticks)

    def group_alive(self) -> bool:
        """Whether any process of the group still runs (zombies do not count)."""
        return bool(self._members())

    def send(self, signum: signal.Signals) -> None:
        """Signal every process of the group."""
        if not self.has_exited():
            # The leader is the recorded process, so its group id is certainly ours.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signum)
            return
        # Without its leader, the group id may in time name someone else's group: only
        # processes that carry this instance's name in their environment are signalled.
        for pid in self._members():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    def kill_leftovers(self) -> None:
        """SIGKILL what the leader left behind in its group (it holds the port, maybe)."""
        self.send(signal.SIGKILL)

    async def terminate(self, timeout: float) -> bool:
        """SIGTERM the group, SIGKILL it after ``timeout`` seconds; True when it ended on
        SIGTERM alone."""
        self.send(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.has_exited()
            if not self.group_alive():
                self._reap()
                return True
            await asyncio.sleep(_STOP_POLL)
        deadline = time.monotonic() + _KILL_WAIT
        while time.monotonic() < deadline:
            self.send(signal.SIGKILL)
            self.has_exited()
            if not self.group_alive():
                break
            await asyncio.sleep(_STOP_POLL)
        self._reap()
        return False

    def _reap(self) -> None:
        """Collect the exit status of a child whose group is gone (it may have died
        between the last look and the group check)."""
        if self._popen is not None and self.exit_code is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.exit_code = self._popen.wait(timeout=1.0)

    def _members(self) -> list[int]:
        """Live processes of the group: the leader if it is still the recorded one, and
        any other member whose environment names this instance."""
        marker = f"ANDON_INSTANCE={self.instance_id}".encode()
        members = []
        for entry in _PROC.iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            fields = _stat_fields(pid)
            if fields is None or len(fields) <= 19 or fields[0] in {"Z", "X"}:
                continue
            if fields[2] != str(self.pid):
                continue
            if pid == self.pid:
                if self.ticks is None or fields[19] == self.ticks:
                    members.append(pid)
            elif marker in _environ(pid).split(b"\0"):
                members.append(pid)
        return members


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ..."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()


def _environ(pid: int) -> bytes:
    try:
        return (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return b""
