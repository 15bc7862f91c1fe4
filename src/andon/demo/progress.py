"""The demo's progress display: a heading per step (``[3/8] A defect the tests do not
catch``), a line per thing that happened with the seconds since the demo began, and —
on a terminal — a spinner saying what it waits for and for how long. It also keeps each
step's times and key facts, which the summary shows at the end.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from rich.console import Console, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text


@dataclass
class StepRecord:
    """One step as it went: its number (0: setting up), title, times and key facts."""

    number: int
    title: str
    started: float
    """Seconds after the demo began."""
    seconds: float | None = None
    """How long it took; None while it runs (or when it failed)."""
    facts: list[str] = field(default_factory=list)
    """What the summary says of it."""
    failed: bool = False


class Progress:
    """Prints the demo's progress on ``console``; ``clock`` gives the time."""

    def __init__(
        self,
        console: Console,
        *,
        total: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self.total = total
        self.steps: list[StepRecord] = []
        self._clock = clock
        self._began = clock()

    def elapsed(self) -> float:
        """Seconds since the demo began."""
        return self._clock() - self._began

    @property
    def current(self) -> StepRecord | None:
        return self.steps[-1] if self.steps else None

    @contextlib.contextmanager
    def step(self, number: int, title: str) -> Iterator[StepRecord]:
        """A step: its heading now, its time when it ends (not when it raises)."""
        record = StepRecord(number, title, self.elapsed())
        self.steps.append(record)
        heading = f"[{number}/{self.total}] {title}" if number else title
        self.console.print()
        self.console.print(Text(heading, style="bold"))
        try:
            yield record
        except BaseException:
            record.failed = True
            raise
        record.seconds = self.elapsed() - record.started

    def say(self, text: str, *, style: str = "") -> None:
        """A line of what happened, with the seconds since the demo began."""
        line = Text(f"{self.elapsed():6.1f}s  ", style="dim")
        line.append(text, style=style)
        self.console.print(line)

    def fact(self, text: str) -> None:
        """What the summary says of the step under way (printed there, not now)."""
        if self.current is not None:
            self.current.facts.append(text)

    def quote(self, text: str, *, style: str = "yellow") -> None:
        """Andon's own words (a decision, a refusal), set apart from the demo's."""
        self.console.print(Text(f"         “{text}”", style=style))

    def show(self, renderable: RenderableType) -> None:
        """A table or other block, indented under the step."""
        self.console.print(renderable)

    @contextlib.contextmanager
    def doing(self, what: str) -> Iterator[None]:
        """On a terminal, a spinner with ``what`` and its seconds while the block runs."""
        if not self.console.is_terminal:
            yield
            return
        since = self._clock()
        spinner = Spinner("dots", style="cyan")

        def render() -> RenderableType:
            spinner.update(text=Text(f" {what} ({self._clock() - since:.0f}s)", style="dim"))
            return spinner

        with Live(
            console=self.console,
            get_renderable=render,
            refresh_per_second=8,
            transient=True,
        ):
            yield
