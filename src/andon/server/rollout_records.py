"""A rollout's record as the reconciler and the API read it: the document kept in its
``state`` (:class:`RolloutDocument`: the plan, the engine's state, the actions being
applied, queued commands, check results, the analysis run, when its commits landed), the
stored status of an engine phase, the release it goes over, and the commits it carries.

:mod:`andon.server.rolling_out` writes documents; :mod:`andon.server.deploys` starts them;
the rollouts API shows them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from andon.errors import NotFoundError, UsageError
from andon.repos import GitRepository
from andon.rollout import (
    CheckResult,
    InstanceReport,
    Observations,
    OperatorCommand,
    Phase,
    RolloutPlan,
    RolloutState,
    Verdict,
)
from andon.settings import Settings
from andon.store import RolloutRecord, RolloutStatus, Store

MAX_COMMITS = 500
"""The most commits a rollout records as carried (the newest)."""
_STATUS = {
    Phase.PAUSED: RolloutStatus.PAUSED,
    Phase.SUCCEEDED: RolloutStatus.SUCCEEDED,
    Phase.ROLLED_BACK: RolloutStatus.ROLLED_BACK,
    Phase.ABORTED: RolloutStatus.ABORTED,
    Phase.FAILED: RolloutStatus.FAILED,
}
"""Rollout status by engine phase; every other phase is ``running``."""


def status_of(phase: Phase) -> RolloutStatus:
    """The stored status of a rollout in ``phase``."""
    return _STATUS.get(phase, RolloutStatus.RUNNING)


def old_release(record: RolloutRecord) -> tuple[str | None, str | None, list[str]]:
    """The version and artifact a rollout goes over, and the commits it carries beyond
    them: as recorded, unless it waited in the queue while another rollout changed what
    the environment runs (then as they were when its turn came)."""
    rebased = record.state.get("rebased")
    if rebased:
        return rebased["version"], rebased["artifact"], list(rebased["commits"])
    return record.from_version, record.from_artifact, list(record.commits)


class Carried(NamedTuple):
    """The commits a release carries beyond the one it goes over, and when they landed."""

    commits: list[str]
    times: dict[str, str]
    """Each commit's committer time (ISO 8601) by sha, of those the repository could tell:
    when it landed on trunk, which for a squash or rebase merge is the merge, not when its
    work was authored. DORA's change lead time runs from it."""


def carried_commits(
    store: Store, settings: Settings, project: str, old: str | None, new: str
) -> Carried:
    """The commits release ``new`` carries beyond ``old``, oldest first (none when it
    goes back; the release alone, with no time, when the repository cannot tell)."""
    record = store.projects.get(project)
    try:
        repo = GitRepository.open(record.source, mirrors=settings.repos_dir, name=record.name)
        if old is not None and repo.commits_since(old, new, 1):
            return Carried([], {})  # going back: it carries nothing new
        commits = repo.commits_since(new, old, MAX_COMMITS)
    except (UsageError, NotFoundError):
        return Carried([new], {})
    try:
        times = {sha: at.isoformat() for sha, at in repo.commit_times(commits).items()}
    except (UsageError, NotFoundError):
        # The lead times will be unknown; the deploy goes on.
        times = {}
    return Carried(commits, times)


class RolloutDocument:
    """The rollout's record ``state``, read and written whole: the plan, the engine's
    state, the actions being applied, the queued commands, the results of the checks it
    ran, the checks still running, the analysis run, and when its commits landed."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.plan = RolloutPlan.from_dict(data["plan"])
        self.state = RolloutState.from_dict(data["rollout"])
        self.pending: list[dict[str, Any]] = list(data.get("pending", []))
        self.commands: list[dict[str, Any]] = list(data.get("commands", []))
        self.consumed = 0
        """How many of :attr:`commands` a decision took: commands queued while a tick
        awaited its runtime come after them, and stay for the next tick."""
        self.results: dict[str, Any] = dict(data.get("results", {}))
        self.running: dict[str, int] = dict(data.get("running", {}))
        self.analysis: dict[str, Any] | None = data.get("analysis")
        self.verdict: dict[str, Any] | None = data.get("verdict")
        self.baseline: dict[str, Any] | None = data.get("baseline")
        self.seen: dict[str, Any] = dict(data.get("seen", {}))
        """Each version's instances at the last tick (ready, failed, what the first
        failed one said), by role (canary, stable), for people watching."""
        self.rebased: dict[str, Any] | None = data.get("rebased")
        """The release a queued rollout went over when its turn came, when the
        environment no longer ran the one it was queued over (see :func:`old_release`)."""
        self.commit_times: dict[str, str] = dict(data.get("commit_times", {}))
        """When each commit it carries landed on trunk (:attr:`Carried.times`), passed to
        every deploy event."""

    @staticmethod
    def new(
        plan: RolloutPlan, state: RolloutState, commit_times: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """The document of a rollout that has not ticked yet."""
        return {
            "plan": plan.to_dict(),
            "rollout": state.to_dict(),
            "commit_times": dict(commit_times or {}),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_dict(),
            "rollout": self.state.to_dict(),
            "pending": self.pending,
            "commands": self.commands,
            "results": self.results,
            "running": self.running,
            "analysis": self.analysis,
            "verdict": self.verdict,
            "baseline": self.baseline,
            "seen": self.seen,
            "rebased": self.rebased,
            "commit_times": self.commit_times,
        }

    def observations(self, canary: InstanceReport, stable: InstanceReport) -> Observations:
        verdict = Verdict.from_dict(self.verdict) if self.verdict is not None else None
        return Observations(
            canary=canary,
            stable=stable,
            migrations=CheckResult.from_dict(self.results.get("migrations")),
            smoke=CheckResult.from_dict(self.results.get("smoke")),
            verdict=verdict,
            commands=tuple(OperatorCommand.from_dict(c) for c in self.commands),
        )
