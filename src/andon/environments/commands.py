"""Running andon.yaml's commands against an environment — migrations, seed data and smoke
commands — in its release directory with its variables, each in a process group of its
own with a timeout, and every line of output appended to the environment's log with
secrets masked.

The lifecycle and the smoke tests call :func:`run_command`; :class:`MaskedLog` is the log
they write to (``ANDON_HOME/environments/<project>/<env>/logs/<step>.log``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from andon.environments.steps import StepError
from andon.settings import inherited_environment

MASK = "***"
TAIL_LINES = 5
_KILL_GRACE_S = 2.0


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret in it replaced by ``***`` (the longest first, so that a
    secret holding another is masked whole)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class MaskedLog:
    """A log file that never holds a secret: every line is masked before it is written."""

    def __init__(self, path: Path, secrets: Sequence[str]) -> None:
        self.path = path
        self._secrets = list(secrets)
        path.parent.mkdir(parents=True, exist_ok=True)

    def mask(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        return mask(text, self._secrets)

    def note(self, text: str) -> None:
        """A line from Andon itself, marked as such."""
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        self.write(f"--- andon {stamp}: {text}")

    def write(self, line: str) -> None:
        """Append one line, masked."""
        with self.path.open("a", encoding="utf-8") as file:
            file.write(self.mask(line.rstrip("\n")) + "\n")


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """How a command ended: its exit code (None when it was killed for its timeout) and
    the last lines it wrote, masked."""

    exit_code: int | None
    tail: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether it exited 0."""
        return self.exit_code == 0


async def run_command(
    command: str,
    *,
    cwd: Path,
    variables: Mapping[str, str],
    log: MaskedLog,
    timeout: float,
) -> CommandOutcome:
    """Run ``command`` with bash in ``cwd`` with ``variables`` (over a few of the server's
    own, such as PATH), appending its output to ``log``; killed with its whole process
    group after ``timeout`` seconds."""
    env = inherited_environment()
    env.update(variables)
    log.note(f"running `{command}` in {cwd}")
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        command,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        await asyncio.wait_for(_copy_output(process, log, tail), timeout)
        code: int | None = await process.wait()
    except TimeoutError:
        await _kill_group(process)
        code = None
        log.note(f"killed: still running after {timeout:g}s")
    except BaseException:
        # Cancelled (the server is stopping): the command must not outlive the step.
        await _kill_group(process)
        raise
    if code is not None:
        log.note(f"exited with code {code}")
    return CommandOutcome(code, tuple(tail))


def require_success(outcome: CommandOutcome, what: str, log: MaskedLog) -> None:
    """StepError naming ``what`` and the end of its log unless the command succeeded."""
    if outcome.ok:
        return
    ended = (
        "was killed for running past its timeout"
        if outcome.exit_code is None
        else f"exited with code {outcome.exit_code}"
    )
    tail = " | ".join(line.strip() for line in outcome.tail if line.strip())
    last = f"; its output ends: {tail}" if tail else ""
    raise StepError(f"{what} {ended}{last} (log: {log.path})")


async def _copy_output(
    process: asyncio.subprocess.Process, log: MaskedLog, tail: deque[str]
) -> None:
    assert process.stdout is not None
    while line := await process.stdout.readline():
        text = log.mask(line.decode("utf-8", errors="replace").rstrip("\n"))
        log.write(text)
        tail.append(text)


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the command's process group, then SIGKILL whatever of it is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), _KILL_GRACE_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()
