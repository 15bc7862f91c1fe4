"""The progress display: a heading per step, lines with the seconds since the demo began,
each step's time and facts kept for the summary, and no spinner off a terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from andon.demo import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def progress() -> tuple[Progress, Clock, io.StringIO]:
    out = io.StringIO()
    clock = Clock()
    return Progress(Console(file=out, width=100), total=8, clock=clock), clock, out


def test_a_step_prints_its_heading_its_lines_and_keeps_its_time_and_facts() -> None:
    shown, clock, out = progress()
    with shown.step(3, "A defect the tests do not catch"):
        clock.now += 12.5
        shown.say("rolled back by itself")
        shown.fact("rolled back in 7.1s")
        clock.now += 2.0
    (record,) = shown.steps
    assert (record.number, record.started, record.seconds) == (3, 0.0, 14.5)
    assert record.facts == ["rolled back in 7.1s"] and not record.failed
    lines = out.getvalue().splitlines()
    assert lines[1] == "[3/8] A defect the tests do not catch"
    assert lines[2] == "  12.5s  rolled back by itself"


def test_a_step_that_raises_is_marked_failed_without_a_time() -> None:
    shown, _, _ = progress()
    with pytest.raises(RuntimeError), shown.step(0, "Setting up"):
        raise RuntimeError("no git")
    assert shown.steps[0].failed and shown.steps[0].seconds is None


def test_andons_own_words_are_quoted_and_nothing_spins_off_a_terminal() -> None:
    shown, _, out = progress()
    with shown.doing("waiting for the canary"):
        shown.quote("rolled back: errors failed")
    assert out.getvalue() == "         “rolled back: errors failed”\n"
