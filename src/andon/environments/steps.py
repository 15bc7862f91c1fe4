"""The steps of building or removing an environment as the people watching see them: each
starts, then is done or failed, with its duration and a line on what it did.

The lifecycle reports every step to a :data:`Progress` callback (the server keeps them
for ``andon env up --wait`` to print); a step that cannot complete raises
:class:`StepError`, whose message becomes the environment's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from andon.errors import AndonError, PermanentError

log = logging.getLogger("andon.environments")


class StepStatus(StrEnum):
    """Where a step is."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class StepEvent:
    """A step starting or ending."""

    step: str
    """Its key: ``unpack``, ``database``, ``config``, ``migrate``, ``seed``, ``start``,
    ``health``, ``smoke``, ``stop``, ``drop``, ``clean``."""
    title: str
    """What it does, for people: ``run the migrations``."""
    status: StepStatus
    seconds: float | None = None
    """How long it took, once it has ended."""
    detail: str = ""
    """What it did, or why it failed."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values, for the API."""
        return {
            "step": self.step,
            "title": self.title,
            "status": self.status.value,
            "seconds": self.seconds,
            "detail": self.detail,
        }


Progress = Callable[[StepEvent], None]
"""Told of every step as it starts and ends."""


def ignore_progress(_: StepEvent) -> None:
    """A :data:`Progress` that tells no one."""


class StepError(PermanentError):
    """A step of building an environment failed: a migration or seed command, an
    instance that never got ready, a smoke test. The message says which and why, with
    the end of its log (secrets masked)."""

    http_status = 422
    code = "step_failed"


class StepRunner:
    """Runs steps one after another, timing each and telling ``progress`` of it."""

    def __init__(self, progress: Progress, timer: Callable[[], float]) -> None:
        self._progress = progress
        self._timer = timer
        self.current = ""
        """The title of the step running or run last."""

    async def run(self, step: str, title: str, action: Callable[[], Awaitable[str]]) -> str:
        """Run ``action`` as step ``step``; what it did. An Andon error fails the step
        as it is; anything else is worded as an unexpected failure (and logged whole)."""
        started = self._timer()
        self.current = title
        self._progress(StepEvent(step, title, StepStatus.RUNNING))
        try:
            detail = await action()
        except AndonError as exc:
            self._end(step, title, StepStatus.FAILED, started, exc.message)
            raise
        except Exception as exc:
            log.exception("step %s failed unexpectedly", step)
            message = f"{title} failed unexpectedly ({type(exc).__name__}: {exc})."
            self._end(step, title, StepStatus.FAILED, started, message)
            raise StepError(message) from exc
        self._end(step, title, StepStatus.DONE, started, detail)
        return detail

    def _end(self, step: str, title: str, status: StepStatus, started: float, detail: str) -> None:
        seconds = round(self._timer() - started, 3)
        self._progress(StepEvent(step, title, status, seconds, detail))
