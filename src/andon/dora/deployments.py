"""Deployments out of deploy events: :func:`assess_deployments` turns the event log of one
or more environments into :class:`Deployment` values (when each started, how it ended and
why, whether it was rework, when service was restored after it failed, and the lead time
of each commit it brought first). :mod:`andon.dora.metrics` counts them.

The definitions follow DORA's (``docs/dora.md`` says the same for people):

* A *deployment* is one start of a rollout into an environment: its ``started`` event. A
  retried rollout starts again, and each attempt is a deployment of its own.
* It *succeeded* when it ended ``finished``. It *failed* when it ended ``rolled_back``,
  ``failed`` or ``aborted`` (a person rolling back is a rollback too), or when it finished
  but needed a fix: the next deployment of the environment is an undo. Otherwise it is
  *in progress*.
* An *undo* carries no commits and goes to another version than the one the environment
  ran when it started (the last to finish there): back to an older release, whether by
  ``andon rollout undo`` or by deploying that release again.
* A deployment is *rework* when it was made to fix a failed one: the previous deployment
  of the environment failed, or it is an undo.
* Service is *restored* after a failed deployment when traffic went back to the old
  version (the time of its ``rolled_back``, ``aborted`` or ``failed`` event) or, for a
  release that finished and needed a fix, when the next deployment to finish there
  finished.
* A commit's *lead time* runs from its committer time (when it landed on trunk; a squash
  or merge counts as the commit that landed) to the ``finished`` event of the first
  succeeded deployment that carries it. A commit of a failed release counts when a later
  release carrying it succeeds; each commit counts once per environment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from andon.store import DeployEventKind, DeployEventRecord


class Outcome(StrEnum):
    """How a deployment ended, as DORA counts it."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # Not counted in the rates until it ends.
    IN_PROGRESS = "in_progress"


@dataclass(frozen=True, slots=True)
class CommitLead:
    """A commit a deployment carries, and its lead time when this deployment is the one
    that first brought it to the environment."""

    sha: str
    # When it landed on trunk; None when the repository could not tell.
    committed_at: datetime | None
    lead_time: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Deployment:
    """One start of a rollout into an environment, and what came of it."""

    rollout_id: int | None
    project: str
    environment: str
    version: str
    started_at: datetime
    # When it finished or went back; None while in progress.
    ended_at: datetime | None
    outcome: Outcome
    why: str
    rework: bool
    # For a failed deployment, when service was restored; None until it is.
    restored_at: datetime | None
    commits: tuple[CommitLead, ...] = ()

    @property
    def recovery(self) -> timedelta | None:
        """From a failed deployment's start to service restored; None otherwise."""
        if self.outcome is not Outcome.FAILED or self.restored_at is None:
            return None
        return self.restored_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values, as the API's ``deployment_list`` gives them."""
        recovery = self.recovery
        return {
            "rollout_id": self.rollout_id,
            "project": self.project,
            "environment": self.environment,
            "version": self.version,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "outcome": self.outcome.value,
            "why": self.why,
            "rework": self.rework,
            "restored_at": _iso(self.restored_at),
            "recovery_seconds": None if recovery is None else recovery.total_seconds(),
            "commits": [
                {
                    "sha": commit.sha,
                    "committed_at": _iso(commit.committed_at),
                    "lead_time_seconds": (
                        None if commit.lead_time is None else commit.lead_time.total_seconds()
                    ),
                }
                for commit in self.commits
            ],
        }


def assess_deployments(events: Iterable[DeployEventRecord], now: datetime) -> list[Deployment]:
    """The deployments recorded in ``events`` (of any projects and environments) as known
    at ``now``, oldest first. Give the whole history of an environment: a deployment's
    outcome depends on the one after it, and a commit's lead time on the ones before. No
    side effects."""
    known = sorted((e for e in events if e.at <= now), key=lambda e: (e.at, e.id))
    found: list[Deployment] = []
    for attempts in _attempts_by_environment(known).values():
        found.extend(_assess_environment(attempts))
    return sorted(found, key=lambda d: (d.started_at, d.project, d.environment))


@dataclass(slots=True)
class _Attempt:
    """The events of one deployment, as they are gathered."""

    started: DeployEventRecord
    end: DeployEventRecord | None = None
    commit_times: dict[str, datetime] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.end is not None and self.end.kind is DeployEventKind.FINISHED


_ENDINGS = {
    DeployEventKind.FINISHED,
    DeployEventKind.ROLLED_BACK,
    DeployEventKind.ABORTED,
    DeployEventKind.FAILED,
}
_WENT_BACK = {
    DeployEventKind.ROLLED_BACK: "rolled back",
    DeployEventKind.ABORTED: "aborted",
    DeployEventKind.FAILED: "failed",
}


def _attempts_by_environment(
    events: list[DeployEventRecord],
) -> dict[tuple[str, str], list[_Attempt]]:
    """Each environment's attempts in the order they started; the events between a
    ``started`` and the next one of the same rollout belong to it."""
    by_environment: dict[tuple[str, str], list[_Attempt]] = {}
    current: dict[tuple[str, str, object], _Attempt] = {}
    for event in events:
        where = (event.project, event.environment)
        # A rollout's events name it; events recorded without one are told apart by version.
        rollout = (*where, event.rollout_id if event.rollout_id is not None else event.version)
        if event.kind is DeployEventKind.STARTED:
            attempt = _Attempt(event, commit_times=dict(event.commit_times))
            current[rollout] = attempt
            by_environment.setdefault(where, []).append(attempt)
            continue
        attempt_or_none = current.get(rollout)
        # An event of a rollout that never started (aborted while queued), or after its
        # end, changes no deployment.
        if attempt_or_none is None or attempt_or_none.end is not None:
            continue
        attempt_or_none.commit_times.update(event.commit_times)
        if event.kind in _ENDINGS:
            attempt_or_none.end = event
    return by_environment


def _assess_environment(attempts: list[_Attempt]) -> list[Deployment]:
    """One environment's deployments from its attempts in start order."""
    undos = _undos(attempts)
    endings = [_ending(attempts, undos, index) for index in range(len(attempts))]
    outcomes = [outcome for outcome, _, _ in endings]
    leads = _lead_times(attempts, outcomes)
    deployments = []
    for index, (attempt, (outcome, why, restored_at)) in enumerate(
        zip(attempts, endings, strict=True)
    ):
        after_failure = index > 0 and outcomes[index - 1] is Outcome.FAILED
        started = attempt.started
        deployments.append(
            Deployment(
                rollout_id=started.rollout_id,
                project=started.project,
                environment=started.environment,
                version=started.version,
                started_at=started.at,
                ended_at=None if attempt.end is None else attempt.end.at,
                outcome=outcome,
                why=why,
                rework=undos[index] or after_failure,
                restored_at=restored_at,
                commits=leads[index],
            )
        )
    return deployments


def _undos(attempts: list[_Attempt]) -> list[bool]:
    """Whether each attempt goes back: no commits, to another version than the one the
    environment ran when it started."""
    undos: list[bool] = []
    running: str | None = None
    for attempt in attempts:
        started = attempt.started
        undos.append(not started.commits and running is not None and started.version != running)
        # With one rollout at a time, an attempt finishes before the next one starts.
        if attempt.finished:
            running = started.version
    return undos


def _ending(
    attempts: list[_Attempt], undos: list[bool], index: int
) -> tuple[Outcome, str, datetime | None]:
    """The outcome of the attempt at ``index``, why, and when service was restored."""
    attempt = attempts[index]
    end = attempt.end
    if end is None:
        return Outcome.IN_PROGRESS, "in progress", None
    if end.kind is not DeployEventKind.FINISHED:
        words = _WENT_BACK[end.kind]
        sentence = end.message.strip()
        why = sentence if sentence.startswith(words) else f"{words}: {sentence}".rstrip(": ")
        return Outcome.FAILED, why, end.at
    following = index + 1
    if following < len(attempts) and undos[following]:
        fix = attempts[following].started
        number = f" #{fix.rollout_id}" if fix.rollout_id is not None else ""
        why = f"needed a fix: undone by{number} back to {fix.version[:12]}"
        later = (a.end for a in attempts[following:] if a.finished)
        return Outcome.FAILED, why, next((e.at for e in later if e is not None), None)
    if undos[index]:
        return Outcome.SUCCEEDED, f"finished: back to {attempt.started.version[:12]}", None
    return Outcome.SUCCEEDED, "finished", None


def _lead_times(attempts: list[_Attempt], outcomes: list[Outcome]) -> list[tuple[CommitLead, ...]]:
    """Each attempt's commits, with a lead time on those it first brought to the
    environment by succeeding."""
    brought: set[str] = set()
    leads: list[tuple[CommitLead, ...]] = []
    for attempt, outcome in zip(attempts, outcomes, strict=True):
        commits = []
        for sha in attempt.started.commits:
            committed_at = attempt.commit_times.get(sha)
            lead_time = None
            if outcome is Outcome.SUCCEEDED and attempt.end is not None and sha not in brought:
                brought.add(sha)
                if committed_at is not None:
                    lead_time = attempt.end.at - committed_at
            commits.append(CommitLead(sha, committed_at, lead_time))
        leads.append(tuple(commits))
    return leads


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")
