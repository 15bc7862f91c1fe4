"""A metric judged by a command: run with the run's versions in its environment, its exit
status is the verdict (0 passes, anything else fails)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from andon.analysis.providers.protocol import Subject
from andon.analysis.readings import Answer, Observed
from andon.errors import TemporaryError
from andon.settings import inherited_environment

_CANNOT_RUN = (126, 127)
"""The shell's exit statuses for a command it could not run (not executable, not found):
no verdict, rather than a failure of the canary."""
_TAIL = 500
"""Characters of the command's output kept for the verdict's message."""


@dataclass
class CommandProvider:
    """Runs ``command`` with ``sh -c``, with ``ANDON_CANARY``, ``ANDON_STABLE``,
    ``ANDON_METRIC`` and ``ANDON_RUN`` set. A command still running after ``timeout``
    seconds is killed (with everything it started) and counts as an unreachable source."""

    metric: str
    command: str
    timeout: float = 30.0
    cwd: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    """Variables added to the few it inherits (``andon.settings.INHERITED_VARIABLES``)."""

    @property
    def source(self) -> str:
        return f"command:{self.metric}"

    async def observe(self, subject: Subject) -> Observed:
        """The command's verdict about ``subject``; its last line of output is the message."""
        # Never Andon's own environment: it holds the secrets' key and the database's URL.
        env = {
            **inherited_environment(),
            **self.env,
            "ANDON_CANARY": subject.canary,
            "ANDON_STABLE": subject.stable or "",
            "ANDON_METRIC": self.metric,
            "ANDON_RUN": str(subject.run),
        }
        try:
            process = await asyncio.create_subprocess_shell(
                self.command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                cwd=self.cwd,
                env=env,
                # Its own process group, so that a timeout kills what it started too.
                start_new_session=True,
            )
        except OSError as exc:
            raise TemporaryError(
                f"the command of metric '{self.metric}' could not start: {exc.strerror or exc}."
            ) from exc
        try:
            output, _ = await asyncio.wait_for(process.communicate(), self.timeout)
        except TimeoutError as exc:
            _kill_group(process)
            await process.wait()
            raise TemporaryError(
                f"the command of metric '{self.metric}' did not finish within "
                f"{self.timeout:g} s and was stopped."
            ) from exc
        except asyncio.CancelledError:
            _kill_group(process)
            raise
        said = _last_line(output)
        code = process.returncode
        if code in _CANNOT_RUN:
            raise TemporaryError(
                f"the command of metric '{self.metric}' could not run (exit status {code})"
                + (f": {said}" if said else "")
                + "."
            )
        if code == 0:
            return Observed(answers={self.metric: Answer(True, said or "exited with 0")})
        message = f"exited with {code}" + (f": {said}" if said else "")
        return Observed(answers={self.metric: Answer(False, message)})


def _kill_group(process: asyncio.subprocess.Process) -> None:
    # It may have ended on its own meanwhile.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _last_line(output: bytes) -> str:
    text = output[-_TAIL:].decode("utf-8", errors="replace").strip()
    return text.splitlines()[-1].strip() if text else ""
