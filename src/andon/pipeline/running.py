"""Running a job's command: ``bash`` in a process group of its own, its output streamed
into the job's log, and the whole group stopped on timeout or cancel. The pipeline runner
calls :func:`run_job_command` once per attempt of a job."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from andon.pipeline.logs import LogSink
from andon.spec import format_duration
from andon.store import JobStatus

KILL_GRACE = 5.0
"""Seconds between SIGTERM and SIGKILL when a job is stopped."""

# Once the command has ended, how long its output may take to drain: a process that left
# the group (setsid) can hold the pipe open for ever.
_DRAIN_SECONDS = 5.0


@dataclass(frozen=True)
class CommandOutcome:
    """How a command ended, as a status with a sentence that says why."""

    status: JobStatus
    """SUCCESS, FAILED (the code's fault or a timeout), INFRA_FAILED (not the code's
    fault: it could not start, or something else killed it) or CANCELED."""
    exit_code: int | None
    """The exit status; negative for a signal (``-9``), None when it never ran."""
    reason: str
    duration: float
    """Seconds from start to end."""


async def run_job_command(
    command: str,
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    sink: LogSink,
    cancel: asyncio.Event | None = None,
    kill_grace: float = KILL_GRACE,
    pid_file: Path | None = None,
) -> CommandOutcome:
    """Run ``command`` with ``bash -eo pipefail -c`` in ``cwd`` and report how it ended.

    ``env`` is the whole environment of the command (nothing is inherited). Output, stdout
    and stderr together, goes to ``sink`` as it arrives. On timeout or when ``cancel`` is
    set, the command's process group gets SIGTERM and, ``kill_grace`` seconds later, SIGKILL,
    so that processes it started stop too; the same happens to processes left behind when
    it ends. An empty command succeeds at once. With ``pid_file``, the process group is
    recorded there while it runs, so that :func:`reap_orphans` can stop it should this
    process die first.
    """
    started = time.monotonic()

    def outcome(status: JobStatus, exit_code: int | None, reason: str) -> CommandOutcome:
        return CommandOutcome(status, exit_code, reason, time.monotonic() - started)

    if not command.strip():
        return outcome(JobStatus.SUCCESS, 0, "nothing to run")
    if cancel is not None and cancel.is_set():
        return outcome(JobStatus.CANCELED, None, "canceled")
    if not cwd.is_dir():
        return outcome(
            JobStatus.INFRA_FAILED, None, f"could not start: the directory {cwd} does not exist"
        )
    try:
        transport, job = await _spawn(command, cwd, env, sink, kill_grace)
    except (OSError, ValueError) as exc:
        # ValueError: an environment value with a NUL byte, which no process can be given.
        return outcome(JobStatus.INFRA_FAILED, None, f"could not start: {_describe(exc)}")
    pid = transport.get_pid()
    if pid_file is not None:
        _record_group(pid_file, pid)
    canceled = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
    stopped_for: str | None = None
    try:
        waiting: set[asyncio.Future[Any]] = {job.exited}
        if canceled is not None:
            waiting.add(canceled)
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if job.exited not in done:
            stopped_for = "cancel" if canceled in done else "timeout"
            await _stop(pid, job.exited, kill_grace)
        # The command is over; whatever it left running in its group goes with it.
        _signal_group(pid, signal.SIGKILL)
        drained, _ = await asyncio.wait({job.drained}, timeout=_DRAIN_SECONDS)
        if not drained:
            sink.note("output stopped being read: a process the job started still holds it")
    except asyncio.CancelledError:
        # We were cancelled ourselves: leave nothing running behind, whatever the child
        # watcher believes of the leader (its report can come late or be wrong), and wait
        # for the kill to land so that the process is reaped rather than left a zombie.
        _signal_group(pid, signal.SIGKILL)
        await asyncio.wait({job.exited}, timeout=kill_grace)
        raise
    finally:
        if canceled is not None:
            canceled.cancel()
        transport.close()
        if pid_file is not None:
            pid_file.unlink(missing_ok=True)
    code = transport.get_returncode()
    assert code is not None
    if stopped_for == "timeout":
        limit = format_duration(timedelta(seconds=timeout))
        return outcome(JobStatus.FAILED, code, f"timed out after {limit} and was stopped")
    if stopped_for == "cancel":
        return outcome(JobStatus.CANCELED, code, "canceled")
    status, reason = _judge(code)
    return outcome(status, code, reason)


class _JobProtocol(asyncio.SubprocessProtocol):
    """Streams the command's output into the sink as it arrives, and tells when the command
    has ended and when its output has (both differ when it leaves processes behind)."""

    def __init__(self, sink: LogSink, loop: asyncio.AbstractEventLoop) -> None:
        self.sink = sink
        self.exited: asyncio.Future[None] = loop.create_future()
        self.drained: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self.sink.write(data.encode() if isinstance(data, str) else data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if not self.drained.done():
            self.drained.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


def _judge(code: int) -> tuple[JobStatus, str]:
    """The status and reason for an exit status of a command that ran to its end."""
    if code == 0:
        return JobStatus.SUCCESS, "exit code 0"
    if code < 0:
        # Nobody here sent it: the OOM killer, an operator, or a crash of the runtime.
        number = -code
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown"
        hint = " — the OS may have run out of memory" if number == signal.SIGKILL else ""
        return JobStatus.INFRA_FAILED, f"killed by signal {number} ({name}){hint}"
    if code == 127:
        return JobStatus.FAILED, "command not found (exit 127)"
    if code == 126:
        return JobStatus.FAILED, "command found but not executable (exit 126)"
    return JobStatus.FAILED, f"exit code {code}"


async def _stop(pid: int, ended: asyncio.Future[None], grace: float) -> None:
    """SIGTERM the group, give the command ``grace`` seconds, then SIGKILL what is left."""
    _signal_group(pid, signal.SIGTERM)
    await asyncio.wait({ended}, timeout=grace)
    _signal_group(pid, signal.SIGKILL)
    await ended


async def _spawn(
    command: str, cwd: Path, env: Mapping[str, str], sink: LogSink, kill_grace: float
) -> tuple[asyncio.SubprocessTransport, _JobProtocol]:
    """Start ``command`` with bash in a session of its own, its output into ``sink``."""
    loop = asyncio.get_running_loop()
    starting = asyncio.ensure_future(
        loop.subprocess_exec(
            lambda: _JobProtocol(sink, loop),
            shutil.which("bash") or "/bin/bash",
            "-eo",
            "pipefail",
            "-c",
            command,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    )
    try:
        # Shielded: cancelled while the process starts (it may be running already), asyncio
        # would kill the leader alone and leave what it started running.
        return await asyncio.shield(starting)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            transport, job = await starting
            _signal_group(transport.get_pid(), signal.SIGKILL)
            await asyncio.wait({job.exited}, timeout=kill_grace)
            transport.close()
        raise


def _signal_group(pid: int, signum: signal.Signals) -> None:
    # The group may be gone already; that is the outcome wanted.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _describe(error: OSError | ValueError) -> str:
    if isinstance(error, OSError) and error.strerror:
        text = error.strerror.lower()
        return f"{text}: {error.filename}" if error.filename else text
    return str(error)


def _start_time(pid: int) -> str | None:
    """When ``pid`` started (in clock ticks since boot): with the pid, a process's identity,
    since pids are reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _record_group(pid_file: Path, pid: int) -> None:
    # Without the record an orphan cannot be reaped later; the job itself still runs.
    with contextlib.suppress(OSError):
        pid_file.write_text(f"{pid} {_start_time(pid) or '-'}\n")


def reap_orphans(pid_files: Iterable[Path]) -> int:
    """Kill the process groups of jobs whose runner died (recorded by ``pid_file``); only
    groups whose leader is still the very process recorded. Returns how many were killed."""
    killed = 0
    for pid_file in pid_files:
        try:
            pid_text, started = pid_file.read_text().split()[:2]
            pid = int(pid_text)
        except (OSError, ValueError):
            pid_file.unlink(missing_ok=True)
            continue
        if started != "-" and _start_time(pid) == started:
            _signal_group(pid, signal.SIGKILL)
            killed += 1
        pid_file.unlink(missing_ok=True)
    return killed
