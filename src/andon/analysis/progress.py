"""One metric's progress through an analysis run: its windows since it began, its judges'
latest verdicts and remembered state, and when its verdict can no longer change.

An analysis run (:mod:`andon.analysis.runs`) keeps a :class:`MetricProgress` per metric
and calls :func:`record` and :func:`judge_metric` at each look whose sources answered,
then :func:`settle`. Pure: no I/O, and the time comes in as ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from andon.analysis import _formatting as fmt
from andon.analysis.readings import is_counted
from andon.analysis.samples import VersionSample, combine, window
from andon.analysis.sequential import SequentialState
from andon.analysis.verdicts import Outcome, Verdict
from andon.spec import AnalysisSpec, MetricSpec
from andon.spec.release import ANSWERING

THRESHOLD, BASELINE, ANSWER = "threshold", "baseline", "answer"
"""The roles of a metric's judges: its fixed bounds, its comparison, an external answer."""


@dataclass(frozen=True)
class RunView:
    """What every metric of a run shares: the versions, the time it may take, and the
    recorded baseline it is compared with when there is no stable version."""

    canary: str
    stable: str | None
    started_at: float
    budget: float
    """Seconds the run may take."""
    open_ended: bool
    """No duration was given: a bound passes as soon as it holds over enough traffic,
    instead of having to hold until the budget is spent."""
    baseline: VersionSample | None = None


@dataclass(frozen=True)
class MetricProgress:
    """One metric of a run, as plain data."""

    name: str
    since: float | None = None
    """When its sources first answered: the start of its windows (None: not yet)."""
    last: Mapping[str, VersionSample] = field(default_factory=dict)
    """Each version's cumulative sample at the last look its sources answered."""
    total: Mapping[str, VersionSample] = field(default_factory=dict)
    """Each version's window since ``since``."""
    states: Mapping[str, SequentialState] = field(default_factory=dict)
    """What a judge that remembers returned last, by role."""
    latest: Mapping[str, Verdict] = field(default_factory=dict)
    """Each role's latest verdict."""
    settled: tuple[str, ...] = ()
    """Roles whose verdict can no longer change (a sequential decision, the comparison)."""
    failures: int = 0
    """Looks at which a bound or an answer failed."""
    looks: int = 0
    judged_at: float | None = None
    final: Verdict | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, for the reconciler to persist."""
        return {
            "name": self.name,
            "since": self.since,
            "last": {version: sample.to_dict() for version, sample in self.last.items()},
            "total": {version: sample.to_dict() for version, sample in self.total.items()},
            "states": {role: state.to_dict() for role, state in self.states.items()},
            "latest": {role: verdict.to_dict() for role, verdict in self.latest.items()},
            "settled": list(self.settled),
            "failures": self.failures,
            "looks": self.looks,
            "judged_at": self.judged_at,
            "final": None if self.final is None else self.final.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricProgress:
        """The progress :meth:`to_dict` wrote."""
        final = data.get("final")
        return cls(
            name=str(data["name"]),
            since=_number(data.get("since")),
            last={str(v): VersionSample.from_dict(s) for v, s in data.get("last", {}).items()},
            total={str(v): VersionSample.from_dict(s) for v, s in data.get("total", {}).items()},
            states={
                str(role): SequentialState.from_dict(state)
                for role, state in data.get("states", {}).items()
            },
            latest={str(r): Verdict.from_dict(v) for r, v in data.get("latest", {}).items()},
            settled=tuple(str(role) for role in data.get("settled", ())),
            failures=int(data.get("failures", 0)),
            looks=int(data.get("looks", 0)),
            judged_at=_number(data.get("judged_at")),
            final=None if final is None else Verdict.from_dict(final),
        )


def roles_of(spec: MetricSpec, view: RunView) -> tuple[str, ...]:
    """The judges ``spec`` has in a run: an answer, or its bound and its comparison (the
    comparison only when there is a stable version or a recorded baseline)."""
    if spec.provider in ANSWERING:
        return (ANSWER,)
    roles = [THRESHOLD] if spec.threshold is not None else []
    comparable = view.stable is not None or view.baseline is not None
    if spec.baseline is not None and comparable and is_counted(spec):
        roles.append(BASELINE)
    return tuple(roles)


def record(
    progress: MetricProgress, samples: Mapping[str, VersionSample], now: float
) -> MetricProgress:
    """Add what each version did since the last look to its window. The first call only
    marks the start: the windows begin there."""
    if progress.since is None:
        return replace(progress, since=now, last=dict(samples))
    last, total = dict(progress.last), dict(progress.total)
    for version, current in samples.items():
        earlier = last.get(version)
        # A version the router had not seen at the start served all of its requests since.
        step = (
            replace(current, since=progress.since) if earlier is None else window(earlier, current)
        )
        before = total.get(version)
        if before is None or before.latency.bounds != step.latency.bounds:
            total[version] = step if before is None else _restarted(before, step)
        else:
            total[version] = combine(before, step)
        last[version] = current
    return replace(progress, last=last, total=total)


def settle(
    progress: MetricProgress, spec: MetricSpec, analysis: AnalysisSpec, view: RunView, over: bool
) -> Verdict | None:
    """The metric's verdict once it can no longer change (at ``over``, the end of the run,
    always); None while it is still being watched.

    A bound or an answer fails the metric once it failed more looks than
    ``failure_limit`` tolerates; it passes when it holds at the end (at once when the run
    has no duration). A comparison decides when its judge does.
    """
    if progress.final is not None:
        return progress.final
    limit = spec.failure_limit if spec.failure_limit is not None else analysis.failure_limit
    roles = roles_of(spec, view)
    finals: list[Verdict] = []
    for role in roles:
        verdict = progress.latest.get(role)
        if verdict is None:
            continue
        held = verdict.outcome is Outcome.PASS and (view.open_ended or over)
        exceeded = verdict.outcome is Outcome.FAIL and progress.failures > limit
        if role in progress.settled or held or exceeded:
            finals.append(verdict)
    failed = [verdict for verdict in finals if verdict.outcome is Outcome.FAIL]
    if failed:
        return failed[0]
    if roles and len(finals) == len(roles) and all(v.outcome is Outcome.PASS for v in finals):
        return _together(spec.name, finals)
    if not over:
        return None
    return _unfinished(progress, spec, roles, limit)


def _unfinished(
    progress: MetricProgress, spec: MetricSpec, roles: tuple[str, ...], limit: int
) -> Verdict:
    """Why a metric did not pass by the end of its run."""
    for role in roles:
        verdict = progress.latest.get(role)
        if verdict is None or verdict.outcome is Outcome.PASS:
            continue
        if verdict.outcome is Outcome.FAIL:
            tolerated = (
                f"{verdict.sentence} at the last look; failure_limit {limit} tolerates "
                f"{fmt.count(limit)} of the {fmt.count(progress.failures)} failed "
                f"{'look' if progress.failures == 1 else 'looks'}"
            )
            return Verdict(spec.name, Outcome.INCONCLUSIVE, tolerated, verdict.evidence)
        return Verdict(spec.name, Outcome.INCONCLUSIVE, verdict.sentence, verdict.evidence)
    if not roles:
        return Verdict(spec.name, Outcome.INCONCLUSIVE, "nothing to judge it by in this run")
    return Verdict(
        spec.name,
        Outcome.INCONCLUSIVE,
        "no look was possible: its sources answered too late in the run",
        {"looks": progress.looks},
    )


def _together(name: str, verdicts: list[Verdict]) -> Verdict:
    evidence: dict[str, Any] = {}
    for verdict in verdicts:
        evidence.update(verdict.evidence)
    sentence = "; ".join(verdict.sentence for verdict in verdicts)
    return Verdict(name, Outcome.PASS, sentence, evidence)


def _restarted(before: VersionSample, step: VersionSample) -> VersionSample:
    """The router restarted with other latency buckets: the counts still add up, the
    latency histogram starts over."""
    return replace(
        step,
        since=before.since,
        requests=before.requests + step.requests,
        errors=before.errors + step.errors,
        counters={
            name: value + step.counters[name]
            for name, value in before.counters.items()
            if name in step.counters
        },
    )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
