"""One trial: a release deployed by canary while the load runs, watched through the API
until it ends, and measured from the customers' side (the load's answers) and from the
platform's (its decisions, and what ``andon rollout status`` shows).

A rollout that pauses for a person (an inconclusive analysis) is aborted once recorded,
so that the next trial starts from the stable version.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from load import Answer, Load, is_version
from releases import ENVIRONMENT, Release

from andon.testing.stacks import Stack

PROJECT = "shop"
POLL_S = 0.1
ENDED = ("succeeded", "rolled_back", "failed", "aborted")
SETTLE_S = 1.5
"""How long after a rollout ended its last answers are still collected: requests sent
just before traffic moved, answered after."""
TRAFFIC_PHASES = ("progressing", "paused", "baking", "finalizing")


class TrialError(RuntimeError):
    """A trial could not be run (the platform refused a command, or never ended)."""


@dataclass
class Trial:
    """What one deploy did."""

    scenario: str
    number: int
    commit: str
    outcome: str
    """``rolled_back``, ``succeeded``, ``paused`` (inconclusive: aborted afterwards),
    ``failed`` (before any traffic: instances, migrations or smoke tests), ``aborted``,
    ``stuck`` (not ended by the trial's timeout: aborted afterwards)."""
    message: str
    """The rollout's message: the decision sentence."""
    shown_by_status: bool
    """Whether ``andon rollout status`` printed that sentence."""
    status_output: str
    pipeline_s: float
    deploy_at: float
    """Wall clock when ``andon deploy`` was launched."""
    ended_at: float
    """Wall clock when the rollout ended (its ``finished_at``, else when seen ended)."""
    first_canary: float | None = None
    """When the first answer from the canary arrived."""
    last_canary: float | None = None
    decided_at: float | None = None
    """When the rollout decided to roll back or to pause (its decision log)."""
    traffic_at: float | None = None
    """When the canary's first weight step was logged."""
    requests: int = 0
    """Answers to requests sent from ``deploy_at`` to ``ended_at``."""
    failed: int = 0
    canary_requests: int = 0
    canary_failed: int = 0
    stable_failed: int = 0
    connection_errors: int = 0
    other_versions: int = 0
    """Answers in the window from neither the canary nor the stable version."""
    phases: list[tuple[float, str]] = field(default_factory=list)
    """Each phase the polling saw, with seconds since ``deploy_at``."""
    verdict: dict[str, Any] | None = None

    @property
    def reached_traffic(self) -> bool:
        return self.first_canary is not None

    @property
    def back_on_stable_s(self) -> float | None:
        """First canary answer to the last: when all traffic was back on stable."""
        if self.first_canary is None or self.last_canary is None:
            return None
        if self.outcome not in ("rolled_back", "paused", "aborted", "stuck"):
            return None
        return self.last_canary - self.first_canary

    @property
    def detected_s(self) -> float | None:
        """First canary answer to the decision to roll back (or pause)."""
        if self.first_canary is None or self.decided_at is None:
            return None
        return self.decided_at - self.first_canary

    @property
    def switch_s(self) -> float | None:
        """The decision to the last canary answer: traffic moved, in-flight requests done."""
        if self.decided_at is None or self.last_canary is None:
            return None
        return self.last_canary - self.decided_at

    @property
    def to_traffic_s(self) -> float | None:
        """``andon deploy`` launched to the first canary answer: the deploy steps."""
        return None if self.first_canary is None else self.first_canary - self.deploy_at

    @property
    def failed_share(self) -> float:
        return self.failed / self.requests if self.requests else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            back_on_stable_s=self.back_on_stable_s,
            detected_s=self.detected_s,
            switch_s=self.switch_s,
            to_traffic_s=self.to_traffic_s,
            failed_share=self.failed_share,
            reached_traffic=self.reached_traffic,
        )
        return data


def rollout(stack: Stack) -> dict[str, Any]:
    response = stack.api.get(f"/projects/{PROJECT}/environments/{ENVIRONMENT}/rollout")
    if response.status_code != 200:
        raise TrialError(f"GET rollout answered {response.status_code}: {response.text[:300]}")
    return dict(response.json())


def run_trial(
    stack: Stack,
    load: Load,
    release: Release,
    *,
    scenario: str,
    number: int,
    stable: str,
    timeout: float,
) -> Trial:
    """Deploy ``release`` by canary over ``stable`` and follow it to its end."""
    deploy_at = time.time()
    started = stack.andon("deploy", ENVIRONMENT, "--commit", release.commit, "--strategy", "canary")
    if started.returncode != 0:
        raise TrialError(f"andon deploy exited {started.returncode}: {started.stderr.strip()}")
    phases: list[tuple[float, str]] = []
    deadline = time.monotonic() + timeout
    while True:
        found = rollout(stack)
        if found["to_version"] != release.commit:
            raise TrialError(f"the rollout under way is of {found['to_version']}, not ours")
        phase = found["phase"]
        if not phases or phases[-1][1] != phase:
            phases.append((round(time.time() - deploy_at, 3), phase))
        if phase in ENDED:
            break
        pause = found.get("pause") or {}
        if phase == "paused" and pause.get("reason") not in (None, "step"):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(POLL_S)
    seen_end = time.time()
    outcome = "paused" if found["phase"] == "paused" else found["phase"]
    if outcome not in ENDED and outcome != "paused":
        outcome = "stuck"  # still under way at the deadline: recorded, then aborted
    message = (found.get("pause") or {}).get("sentence") or found.get("message") or ""
    shown, status_output = _status_shows(stack, message)
    if outcome in ("paused", "stuck"):
        # Recorded; now out of the way of the next trial.
        aborted = stack.andon("rollout", "abort", ENVIRONMENT, "--reason", "benchmark trial")
        if aborted.returncode != 0:
            raise TrialError(f"andon rollout abort exited {aborted.returncode}: {aborted.stderr}")
        _wait_ended(stack, timeout=60)
    ended_at = _time(found.get("finished_at")) or seen_end
    time.sleep(SETTLE_S)
    trial = Trial(
        scenario=scenario,
        number=number,
        commit=release.commit,
        outcome=outcome,
        message=message,
        shown_by_status=shown,
        status_output=status_output,
        pipeline_s=release.pipeline_seconds,
        deploy_at=deploy_at,
        ended_at=ended_at,
        phases=phases,
        verdict=found.get("verdict"),
    )
    trial.decided_at = _decided_at(found)
    trial.traffic_at = _traffic_at(found)
    _measure(trial, load.between(deploy_at, time.time()), canary=release.commit, stable=stable)
    return trial


def _measure(trial: Trial, answers: list[Answer], *, canary: str, stable: str) -> None:
    ours = [answer for answer in answers if is_version(answer.version, canary)]
    if ours:
        trial.first_canary = min(answer.done for answer in ours)
        trial.last_canary = max(answer.done for answer in ours)
    window = [answer for answer in answers if answer.sent <= trial.ended_at]
    trial.requests = len(window)
    trial.failed = sum(answer.failed for answer in window)
    mine = [answer for answer in window if is_version(answer.version, canary)]
    trial.canary_requests = len(mine)
    trial.canary_failed = sum(answer.failed for answer in mine)
    trial.stable_failed = sum(
        answer.failed for answer in window if is_version(answer.version, stable)
    )
    trial.connection_errors = sum(answer.status == 0 for answer in window)
    trial.other_versions = sum(
        1
        for answer in window
        if answer.version
        and not is_version(answer.version, canary)
        and not is_version(answer.version, stable)
    )


def _status_shows(stack: Stack, sentence: str) -> tuple[bool, str]:
    """Whether ``andon rollout status`` prints ``sentence``, and what it printed. The
    terminal's width wraps its lines anywhere, long paths even within a word, so the
    two are compared without whitespace."""
    shown = stack.andon("rollout", "status", ENVIRONMENT)
    output = shown.stdout + shown.stderr
    if not sentence or shown.returncode != 0:
        return False, output
    return _words(sentence) in _words(shown.stdout), output


def _words(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _wait_ended(stack: Stack, *, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = rollout(stack)
        if found["phase"] in ENDED:
            return found
        time.sleep(POLL_S)
    raise TrialError(f"the rollout did not end within {timeout:g} s of being aborted")


def _decided_at(found: dict[str, Any]) -> float | None:
    for decision in found.get("decisions") or []:
        if decision["kind"] in ("rolling_back", "rolled_back", "paused", "frozen"):
            return _time(decision["at"])
    return None


def _traffic_at(found: dict[str, Any]) -> float | None:
    for decision in found.get("decisions") or []:
        if decision["kind"] == "progressed" and "of traffic to" in decision["sentence"]:
            return _time(decision["at"])
    return None


def _time(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def undo_release(stack: Stack, stable: str, *, timeout: float) -> None:
    """``andon rollout undo``: back to ``stable`` after a rollout of another succeeded."""
    undone = stack.andon("rollout", "undo", ENVIRONMENT)
    if undone.returncode != 0:
        raise TrialError(f"andon rollout undo exited {undone.returncode}: {undone.stderr}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = rollout(stack)
        if is_version(found["to_version"], stable) and found["phase"] in ENDED:
            if found["phase"] != "succeeded":
                raise TrialError(f"undo did not bring {stable} back: {found['message']}")
            return
        time.sleep(POLL_S)
    raise TrialError(f"undo did not bring {stable} back within {timeout:g} s")
