"""The supervisor's deciders, case by case: what follows a process's exit (backoff, crash
loop) and what a health check means for a starting or ready instance."""

from __future__ import annotations

from typing import Any

import pytest

from andon.agent import (
    CrashHistory,
    InstancePhase,
    Probe,
    SupervisorPolicy,
    assess_check,
    decide_after_exit,
    describe_exit,
)

POLICY = SupervisorPolicy()

# (name, history (times, consecutive), ran_for, now) -> (phase, delay, consecutive, recent)
EXIT_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "first crash restarts after the base delay",
        {"times": (), "consecutive": 0, "ran_for": 2.0, "now": 100.0},
        {"phase": "crashed", "delay": 0.5, "consecutive": 1, "recent": 1},
    ),
    (
        "each crash in a row doubles the delay",
        {"times": (90.0, 95.0), "consecutive": 2, "ran_for": 1.0, "now": 100.0},
        {"phase": "crashed", "delay": 2.0, "consecutive": 3, "recent": 3},
    ),
    (
        "the delay is capped at 30 seconds",
        {"times": (), "consecutive": 9, "ran_for": 40.0, "now": 1000.0},
        {"phase": "crashed", "delay": 30.0, "consecutive": 10, "recent": 1},
    ),
    (
        "a process that ran a minute starts the backoff afresh",
        {"times": (10.0,), "consecutive": 6, "ran_for": 60.0, "now": 100.0},
        {"phase": "crashed", "delay": 0.5, "consecutive": 1, "recent": 1},
    ),
    (
        "the fifth crash within a minute is a crash loop",
        {"times": (50.0, 60.0, 70.0, 80.0), "consecutive": 4, "ran_for": 0.1, "now": 100.0},
        {"phase": "crash_loop", "delay": None, "consecutive": 5, "recent": 5},
    ),
    (
        "crashes older than the window do not count towards a loop",
        {"times": (30.0, 60.0, 70.0, 80.0), "consecutive": 4, "ran_for": 0.1, "now": 100.0},
        {"phase": "crashed", "delay": 8.0, "consecutive": 5, "recent": 4},
    ),
]


@pytest.mark.parametrize(("name", "given", "expected"), EXIT_CASES, ids=[c[0] for c in EXIT_CASES])
def test_decide_after_exit(name: str, given: dict[str, Any], expected: dict[str, Any]) -> None:
    history = CrashHistory(times=given["times"], consecutive=given["consecutive"])
    decision = decide_after_exit(
        history, "exited with code 3", given["ran_for"], given["now"], POLICY
    )
    assert decision.phase == InstancePhase(expected["phase"])
    assert decision.delay == expected["delay"]
    assert decision.history.consecutive == expected["consecutive"]
    assert len(decision.history.times) == expected["recent"]
    assert "exited with code 3" in decision.message


def test_a_crash_loop_says_how_often_it_crashed_and_what_to_do() -> None:
    history = CrashHistory(times=(96.0, 97.0, 98.0, 99.0), consecutive=4)
    decision = decide_after_exit(history, describe_exit(3), 0.1, 100.0, POLICY)
    assert decision.message == (
        "crash loop: it crashed 5 times within 60s (last, it exited with code 3) and is not "
        "restarted; see its log, fix the release and start it again."
    )


def test_a_crash_message_says_when_it_restarts() -> None:
    decision = decide_after_exit(CrashHistory(), describe_exit(-9), 0.1, 100.0, POLICY)
    assert decision.message == (
        "crashed: it was killed by signal 9 (SIGKILL); restarting in 0.5s "
        "(crash 1 within 60s; at 5 it is not restarted)."
    )


OK = Probe(True, "GET /healthz answered 200")
DOWN = Probe(False, "GET /healthz: connection refused")

# (name, phase, failures, probe, ran_for) -> (phase, failures, restart)
CHECK_CASES: list[tuple[str, str, int, Probe | None, float, tuple[str, int, bool]]] = [
    ("starting becomes ready on a good probe", "starting", 0, OK, 0.2, ("ready", 0, False)),
    ("starting stays starting on a bad probe", "starting", 0, DOWN, 5.0, ("starting", 0, False)),
    ("starting too long is unhealthy", "starting", 0, DOWN, 60.0, ("unhealthy", 0, True)),
    ("no health path: ready after a second", "starting", 0, None, 1.0, ("ready", 0, False)),
    ("no health path: not ready before", "starting", 0, None, 0.5, ("starting", 0, False)),
    ("ready stays ready on a good probe", "ready", 2, OK, 99.0, ("ready", 0, False)),
    ("one failed liveness check is tolerated", "ready", 0, DOWN, 99.0, ("ready", 1, False)),
    ("three in a row make it unhealthy", "ready", 2, DOWN, 99.0, ("unhealthy", 3, True)),
    ("ready without a health path stays ready", "ready", 0, None, 99.0, ("ready", 0, False)),
]


@pytest.mark.parametrize(
    ("name", "phase", "failures", "probe", "ran_for", "expected"),
    CHECK_CASES,
    ids=[c[0] for c in CHECK_CASES],
)
def test_assess_check(
    name: str,
    phase: str,
    failures: int,
    probe: Probe | None,
    ran_for: float,
    expected: tuple[str, int, bool],
) -> None:
    verdict = assess_check(InstancePhase(phase), failures, probe, ran_for, POLICY)
    assert (verdict.phase.value, verdict.failures, verdict.restart) == expected
    assert verdict.message.endswith(".")


def test_an_unhealthy_verdict_names_the_failed_check() -> None:
    verdict = assess_check(InstancePhase.READY, 2, DOWN, 99.0, POLICY)
    assert verdict.message == (
        "unhealthy: 3 liveness checks failed in a row (GET /healthz: connection refused); "
        "restarting it."
    )


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (0, "exited with code 0"),
        (3, "exited with code 3"),
        (-15, "was killed by signal 15 (SIGTERM)"),
        (None, "exited while the agent was down (its exit code is unknown)"),
    ],
)
def test_describe_exit(code: int | None, words: str) -> None:
    assert describe_exit(code) == words
