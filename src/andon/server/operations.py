"""The slow work on environments that the server does after answering: creating,
destroying and recreating them, one operation at a time per environment, as tasks on the
server's event loop. Each keeps the steps it went through, which the environments API
shows (``andon env up --wait`` prints them as they end).

The environments API and the TTL reaper start operations; the app's lifespan closes them.
Steps are kept in memory only: after a restart an environment's record still says where
it is, but not how it got there.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from andon.environments import StepEvent, StepStatus
from andon.errors import AndonError, ConflictError
from andon.store import EnvironmentRecord, EnvironmentStatus

log = logging.getLogger("andon.server.environments")

Work = Callable[[Callable[[StepEvent], None]], Awaitable[object]]
"""An operation's work, given the callback to tell of its steps; it answers the
environment's record when it is done."""

ReadyHook = Callable[[EnvironmentRecord], Awaitable[None]]
"""Called with an environment's record when an ``up`` or ``recreate`` leaves it ready
(the app applies the flags its andon.yaml declares)."""

KEPT = 5
"""Operations kept per environment: the running one and those before it."""


@dataclass
class Operation:
    """One operation on one environment."""

    id: int
    project: str
    name: str
    action: str
    """``up``, ``down`` or ``recreate``."""
    steps: list[StepEvent] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    error: str | None = None
    result: str | None = None
    """The environment's status when it ended (``ready``, ``failed``, ``destroyed``…)."""

    @property
    def running(self) -> bool:
        """Whether it has not finished yet."""
        return self.task is not None and not self.task.done()

    def record(self, event: StepEvent) -> None:
        """Keep a step's event: an ending one replaces its start."""
        if event.status is not StepStatus.RUNNING:
            for index in range(len(self.steps) - 1, -1, -1):
                started = self.steps[index]
                if started.step == event.step and started.status is StepStatus.RUNNING:
                    self.steps[index] = event
                    return
        self.steps.append(event)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values, for the API."""
        return {
            "id": self.id,
            "action": self.action,
            "running": self.running,
            "result": self.result,
            "error": self.error,
            "steps": [step.to_dict() for step in self.steps],
        }


class EnvironmentOperations:
    """The operations running or run last, by project and environment."""

    def __init__(self, *, on_ready: ReadyHook | None = None) -> None:
        self._operations: dict[tuple[str, str], deque[Operation]] = {}
        self._ids = itertools.count(1)
        self._on_ready = on_ready

    def busy(self, project: str, name: str) -> bool:
        """Whether an operation on the environment is running."""
        found = self.last(project, name)
        return found is not None and found.running

    def last(self, project: str, name: str) -> Operation | None:
        """The operation running or run last on the environment, if any since the start."""
        kept = self._operations.get((project, name))
        return kept[-1] if kept else None

    def history(self, project: str, name: str) -> list[Operation]:
        """The environment's last operations, oldest first."""
        return list(self._operations.get((project, name), ()))

    def check_idle(self, project: str, name: str) -> None:
        """ConflictError while an operation on the environment runs."""
        found = self.last(project, name)
        if found is not None and found.running:
            raise ConflictError(
                f"environment {name} of {project} is busy ({found.action} is under way); "
                f"'andon env status {name}' follows it."
            )

    def start(self, project: str, name: str, action: str, work: Work) -> Operation:
        """Run ``work`` as the environment's next operation (call on the event loop)."""
        self.check_idle(project, name)
        operation = Operation(next(self._ids), project, name, action)
        self._operations.setdefault((project, name), deque(maxlen=KEPT)).append(operation)
        operation.task = asyncio.create_task(
            self._run(operation, work), name=f"environment-{action}-{project}-{name}"
        )
        return operation

    async def close(self) -> None:
        """Cancel what runs; environments left creating are marked failed at next start."""
        operations = [op for kept in self._operations.values() for op in kept]
        tasks = [op.task for op in operations if op.task and not op.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self, operation: Operation, work: Work) -> None:
        try:
            outcome = await work(operation.record)
            if isinstance(outcome, EnvironmentRecord):
                operation.result = outcome.status.value
                if outcome.status is EnvironmentStatus.FAILED:
                    operation.error = outcome.message
                elif outcome.status is EnvironmentStatus.READY and self._on_ready is not None:
                    await self._on_ready(outcome)
        except asyncio.CancelledError:
            raise
        except AndonError as exc:
            operation.error = exc.message
            log.warning(
                "%s of environment %s of %s failed: %s",
                operation.action,
                operation.name,
                operation.project,
                exc.message,
            )
        except Exception as exc:
            operation.error = f"the server failed unexpectedly ({type(exc).__name__}); see its log"
            log.exception(
                "%s of environment %s of %s failed unexpectedly",
                operation.action,
                operation.name,
                operation.project,
            )
