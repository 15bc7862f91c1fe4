"""How the demo fails: :class:`DemoError` for anything that goes wrong on the way, and
:class:`StepFailedError`, which names the step it stopped in, the cause and where the
logs were kept, in the one line the CLI prints.

::

    AndonError
    └── DemoError              the demo cannot go on (a command failed, a wait timed out)
        └── StepFailedError    ... in a numbered step: its title, the cause and the logs
"""

from __future__ import annotations

from pathlib import Path

from andon.errors import AndonError


class DemoError(AndonError):
    """The demo cannot go on; the message says why."""


class StepFailedError(DemoError):
    """A step of the demo failed: which one, why, and where its logs are."""

    def __init__(self, number: int, total: int, title: str, cause: str, logs: Path) -> None:
        self.number = number
        self.title = title
        self.cause = cause
        self.logs = logs
        step = f"at step {number}/{total} ({title})" if number else "while setting up"
        super().__init__(
            f"the demo stopped {step}: {cause.rstrip('.')}; the logs are kept in {logs} "
            "(server.log, agent.log, logs/ for the pipelines, environments/ for the shop's "
            "instances)."
        )
