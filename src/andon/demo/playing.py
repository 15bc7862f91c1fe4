"""``andon demo`` from start to end: a private Andon, the story's eight steps in order,
the summary, and — whatever happens — everything it started stopped again.

A failure stops the demo with the step, the cause and the logs (kept); Ctrl-C stops it
too, and the temporary home goes unless ``--keep`` asked to leave it all running.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.text import Text

from andon.demo.delivering import (
    a_commit_goes_down_the_line,
    a_defect_the_tests_do_not_catch,
    commit_the_defect_ahead,
    first_release_to_prod,
    set_up,
    the_fix_is_promoted,
)
from andon.demo.failures import StepFailedError
from andon.demo.payments import Payments
from andon.demo.progress import Progress, StepRecord
from andon.demo.releasing import a_dependency_goes_down, dark_launch_then_experiment
from andon.demo.stack import PrivateAndon, check_prerequisites
from andon.demo.stopping import (
    break_a_test_ahead,
    build_a_branch_ahead,
    the_line_stops_and_restarts,
)
from andon.demo.story import Story
from andon.demo.summary import DoraPrinter, fetch_dora, summary_document, summary_table
from andon.errors import AndonError

TOTAL = 8
SETTING_UP = "Setting up: a private Andon, the shop's repository, test and prod"
"""The heading before step 1; a failure here says ``while setting up (…)``."""
STEPS: tuple[tuple[str, Callable[[Story], None]], ...] = (
    ("A commit goes down the line to test", a_commit_goes_down_the_line),
    ("The first release to prod, blue-green, under shoppers", first_release_to_prod),
    ("A defect the tests do not catch", a_defect_the_tests_do_not_catch),
    ("The fix, through a canary", the_fix_is_promoted),
    ("Flag new-checkout: a dark launch, then an A/B experiment", dark_launch_then_experiment),
    ("A dependency of the shop goes down", a_dependency_goes_down),
    ("A broken test on trunk pulls the andon cord", the_line_stops_and_restarts),
)
AHEAD: dict[int, tuple[Callable[[Story], None], ...]] = {
    2: (commit_the_defect_ahead,),
    5: (build_a_branch_ahead,),
    6: (break_a_test_ahead,),
}
"""Commits made at the start of an earlier step than their own, so that their pipelines
run while that step plays (each step still says when its commit was made). Two are never
made at once: their pipelines would start together."""
SUMMING_UP = "What happened"


@dataclass(frozen=True)
class DemoOptions:
    """What ``andon demo`` was asked for."""

    keep: bool = False
    """Leave the private Andon running at the end, and say how to reach it."""
    speed: float = 1.0
    """Above 1, the demo's observation windows are shorter."""


@dataclass
class DemoResult:
    """How the demo went: its steps, DORA's report, and (with ``--keep``) where it runs."""

    steps: list[StepRecord]
    seconds: float
    dora: dict[str, Any] | None = None
    kept: dict[str, str] = field(default_factory=dict)
    """With ``--keep``: the dashboard's URL, the token, the home."""

    def to_dict(self) -> dict[str, Any]:
        return {**summary_document(self.steps, self.dora, self.seconds), "kept": self.kept}


def play(
    options: DemoOptions,
    console: Console,
    *,
    show_dora: DoraPrinter | None = None,
) -> DemoResult:
    """Play the demo, printing its progress on ``console``; DemoError before anything
    starts when a prerequisite is missing, StepFailedError when a step fails (its logs
    kept), KeyboardInterrupt passed on after cleaning up."""
    check_prerequisites()
    progress = Progress(console, total=TOTAL)
    andon = PrivateAndon.create()
    payments = Payments()
    story: Story | None = None
    finished = failed = interrupted = False
    try:
        with _step(progress, andon, 0, SETTING_UP):
            story = set_up(andon, payments, progress, options.speed)
        for number, (title, act) in enumerate(STEPS, start=1):
            with _step(progress, andon, number, title):
                for early in AHEAD.get(number, ()):
                    early(story)
                act(story)
        with _step(progress, andon, TOTAL, SUMMING_UP):
            result = _sum_up(story, progress, show_dora)
        finished = True
        if options.keep:
            result.kept = _kept(andon, story)
        return result
    except StepFailedError:
        failed = True
        raise
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        with _no_interrupts():
            _end_story(story, payments)
            if not (finished and options.keep):
                andon.stop()
            if not failed and not (finished and options.keep):
                andon.remove()
            if interrupted:
                console.print("\nInterrupted: everything the demo started is stopped and gone.")


@contextlib.contextmanager
def _step(progress: Progress, andon: PrivateAndon, number: int, title: str) -> Iterator[None]:
    """A step whose failures become one StepFailedError naming it, its cause and logs."""
    try:
        with progress.step(number, title):
            yield
    except StepFailedError:
        raise
    except (AndonError, OSError, httpx.HTTPError) as exc:
        raise StepFailedError(number, TOTAL, title, _cause(exc), andon.home) from exc


def _cause(exc: BaseException) -> str:
    if isinstance(exc, AndonError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def _sum_up(story: Story, progress: Progress, show_dora: DoraPrinter | None) -> DemoResult:
    steps = progress.steps[:-1]
    progress.show(summary_table(steps, TOTAL))
    seconds = progress.elapsed()
    progress.console.print(Text(f"\nThe value stream, end to end, in {seconds:.0f}s.\n"))
    report, why = fetch_dora(story.api)
    if report is None:
        progress.say(f"DORA metrics: not available from this server ({why})")
    elif show_dora is not None:
        show_dora(report)
    return DemoResult(list(progress.steps), seconds, report)


def _kept(andon: PrivateAndon, story: Story) -> dict[str, str]:
    return {
        "dashboard": f"{andon.url}/",
        "token": andon.settings.token_file.read_text("utf-8").strip(),
        "home": str(andon.home),
        "prod": story.prod_url,
    }


def _end_story(story: Story | None, payments: Payments) -> None:
    """Stop what runs inside this process: shoppers, the flag SDK, payments."""
    if story is not None:
        if story.shoppers is not None:
            story.shoppers.stop()
        for close in story.closers:
            close()
        story.api.close()
        story.approver.close()
    payments.stop()


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Ctrl-C is held while cleaning up: a second press must not leave processes behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
