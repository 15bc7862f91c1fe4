"""What every step of the demo shares: the :class:`Story` (the private Andon, the shop's
repository, the shoppers, the payments service, the progress display) and the waits the
steps are made of — a commit's pipeline, a rollout to its end, an environment on a new
version — each said in a line or two of what Andon did.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from andon.demo.api import DemoApi, wait_for
from andon.demo.failures import DemoError
from andon.demo.payments import Payments
from andon.demo.progress import Progress
from andon.demo.repository import Commit, ShopRepository
from andon.demo.shoppers import Shoppers
from andon.demo.stack import PrivateAndon
from andon.flags.client import FlagClient

T = TypeVar("T")

PROJECT = "shop"
FINISHED = {"succeeded", "rolled_back", "aborted", "failed"}
PIPELINE_TIMEOUT_S = 120
ROLLOUT_TIMEOUT_S = 90


@dataclass
class Story:
    """Everything the steps act on and speak through."""

    andon: PrivateAndon
    api: DemoApi
    approver: DemoApi
    """A second person, who approves prod's rollouts (whoever deploys cannot: four eyes)."""
    repo: ShopRepository
    payments: Payments
    progress: Progress
    speed: float = 1.0
    """Above 1, observation windows are shorter (never the waits for Andon itself)."""
    shoppers: Shoppers | None = None
    flags: FlagClient | None = None
    prod_url: str = ""
    commits: dict[str, str] = field(default_factory=dict)
    """The story's commits by what they are (``tagline``, ``defect``, ``fix`` ...)."""
    early: dict[str, float] = field(default_factory=dict)
    """Commits made before their step, so that their pipelines run while an earlier step
    plays: when each was made (seconds into the demo)."""
    approvals: int = 0
    """Rollouts the second person approved so far."""
    closers: list[Callable[[], None]] = field(default_factory=list)
    """What to close at the end, besides the shoppers, in the order given."""
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def say(self, text: str, *, style: str = "") -> None:
        self.progress.say(text, style=style)

    def fact(self, text: str) -> None:
        """What the summary says of the step under way."""
        self.progress.fact(text)

    def the_shoppers(self) -> Shoppers:
        if self.shoppers is None:
            raise DemoError("the synthetic shoppers did not start")
        return self.shoppers

    @contextmanager
    def doing(self, what: str) -> Iterator[None]:
        with self.progress.doing(what):
            yield

    def wait(
        self,
        what: str,
        probe: Callable[[], T | None],
        *,
        timeout: float,
        state: Callable[[], str] | None = None,
    ) -> T:
        """``probe()``'s first truthy answer, on the story's clock; DemoError after
        ``timeout`` seconds saying what ``what`` is and what ``state()`` shows."""
        return wait_for(
            what, probe, timeout=timeout, state=state, clock=self.clock, sleep=self.sleep
        )

    def linger(self, seconds: float) -> None:
        """Let the shoppers shop for ``seconds`` (shortened by ``--speed``): a window to
        observe, the only fixed wait of the demo."""
        self.sleep(seconds / self.speed)

    # -- pipelines ------------------------------------------------------------------------

    def commit(self, name: str, change: Commit) -> str:
        """Commit ``change`` on trunk (unless :meth:`commit_early` did) and say so; its
        commit."""
        if name in self.early:
            sha = self.commits[name]
            made = f" (made at {self.early[name]:.1f}s, while an earlier step played)"
        else:
            sha, made = self.repo.commit(change), ""
            self.commits[name] = sha
        self.say(f"commit {sha[:12]} on main{made}: {change.message}")
        return sha

    def commit_early(self, name: str, change: Commit) -> None:
        """Commit ``change`` on trunk now, for a later step: its pipeline runs meanwhile."""
        self.commits[name] = self.repo.commit(change)
        self.early[name] = self.progress.elapsed()

    def pipeline(self, commit: str, *, branch: str = "main") -> dict[str, Any]:
        """The pipeline of ``commit`` (on ``branch``) once it has finished, with its jobs."""
        with self.doing(f"pipeline of {commit[:12]} running"):
            found = self.wait(
                f"a pipeline for commit {commit[:12]}",
                lambda: self._pipeline_of(commit, branch),
                timeout=30,
            )
            done = self.wait(
                f"pipeline #{found['id']} to finish",
                lambda: (p := self.api.get(f"/pipelines/{found['id']}"))["finished_at"] and p,
                timeout=PIPELINE_TIMEOUT_S,
            )
        return dict(done)

    def _pipeline_of(self, commit: str, branch: str) -> dict[str, Any] | None:
        for pipeline in self.api.get(f"/pipelines?project={PROJECT}&limit=20"):
            if pipeline["commit"] == commit and (pipeline["branch"] or "main") == branch:
                return dict(pipeline)
        return None

    def green(self, commit: str, *, branch: str = "main") -> dict[str, Any]:
        """The pipeline of ``commit``, said in a line; DemoError unless it is green."""
        pipeline = self.pipeline(commit, branch=branch)
        if pipeline["status"] != "success":
            raise DemoError(f"pipeline #{pipeline['id']} is {pipeline['status']}: {_why(pipeline)}")
        self.say(describe_pipeline(pipeline))
        return pipeline

    # -- environments and rollouts -----------------------------------------------------------

    def environment(self, name: str) -> dict[str, Any]:
        return dict(self.api.get(f"/projects/{PROJECT}/environments/{name}"))

    def create_environment(self, name: str, artifact: str) -> None:
        """``andon env up NAME`` without waiting."""
        self.api.post(f"/projects/{PROJECT}/environments", {"name": name, "artifact": artifact})

    def ready(self, name: str) -> dict[str, Any]:
        """The environment once its creation has ended; DemoError unless it is ready."""

        def ended() -> dict[str, Any] | None:
            env = self.environment(name)
            return None if env["busy"] else env

        with self.doing(f"environment {name} being created"):
            env = self.wait(f"environment {name} to be created", ended, timeout=90)
        operation = env.get("operation") or {}
        if operation.get("result") != "ready":
            raise DemoError(
                f"environment {name} is {env['status']}: {operation.get('error') or env['message']}"
            )
        return env

    def deploy(self, environment: str, commit: str, strategy: str) -> dict[str, Any]:
        """``andon deploy ENV --commit C --strategy S``; a second person approves it."""
        path = f"/projects/{PROJECT}/environments/{environment}"
        rollout = self.api.post(f"{path}/rollouts", {"commit": commit, "strategy": strategy})
        self.say(f"andon deploy {environment} --commit {commit[:12]} --strategy {strategy}")
        if rollout["phase"] == "pending":
            self.approver.post(f"{path}/rollout/approve", {"reason": "looked at the diff"})
            why = " (four eyes: whoever deploys to prod cannot approve)"
            self.say(f"sam approves it{'' if self.approvals else why}")
            self.approvals += 1
        return dict(rollout)

    def finished(self, rollout: dict[str, Any]) -> dict[str, Any]:
        """The rollout once it has ended and its last actions are applied."""

        def ended() -> dict[str, Any] | None:
            found = self.api.get(f"/rollouts/{rollout['id']}")
            return found if found["status"] in FINISHED and found["settled"] else None

        def where() -> str:
            found = self.api.get(f"/rollouts/{rollout['id']}")
            return f"it is {found['status']} ({found['phase']}): {found['message']}"

        with self.doing(f"rollout #{rollout['id']} ({rollout['strategy']}) under way"):
            return dict(
                self.wait(
                    f"rollout #{rollout['id']} to end",
                    ended,
                    timeout=ROLLOUT_TIMEOUT_S,
                    state=where,
                )
            )

    def runs(self, environment: str, commit: str) -> dict[str, Any]:
        """The environment once it runs ``commit`` with no rollout under way (the line
        deploys to test by itself)."""

        def arrived() -> dict[str, Any] | None:
            env = self.environment(environment)
            if env["version"] != commit or env["busy"]:
                return None
            rollouts = self.api.get(
                f"/projects/{PROJECT}/environments/{environment}/rollouts?limit=1"
            )
            latest = rollouts[0] if rollouts else None
            if latest is not None and not (latest["status"] in FINISHED and latest["settled"]):
                return None
            return {**env, "rollout": latest}

        with self.doing(f"{environment} taking {commit[:12]}"):
            return dict(self.wait(f"{environment} to run {commit[:12]}", arrived, timeout=60))


def describe_pipeline(pipeline: dict[str, Any]) -> str:
    """``pipeline #2 green in 7.9s: unit in 2 shards in parallel (3.1s, 3.3s), ... →
    artifact sha256:ab12…``. No side effects."""
    jobs = pipeline.get("jobs") or []
    shards = [j for j in jobs if (j.get("shard_total") or 1) > 1]
    parts = []
    for name in dict.fromkeys(j["job"] for j in shards):
        mine = [j for j in shards if j["job"] == name]
        if all(j["status"] == "cached" for j in mine):
            parts.append(f"{name} in {len(mine)} shards reused from cache")
            continue
        overlap = _overlapping(mine)
        spans = ", ".join(f"{j['duration']:.1f}s" for j in mine if j.get("duration") is not None)
        together = " in parallel" if overlap else ""
        parts.append(f"{name} in {len(mine)} shards{together} ({spans})")
    others = [j["job"] for j in jobs if (j.get("shard_total") or 1) <= 1 and j["job"] != "package"]
    cached = sum(1 for j in jobs if j["status"] == "cached")
    took = pipeline.get("duration")
    words = f"pipeline #{pipeline['id']} {'green' if pipeline['status'] == 'success' else 'red'}"
    if took is not None:
        words += f" in {took:.1f}s"
    detail = "; ".join(parts + ([", ".join(others)] if others else []))
    if cached:
        detail += f" ({cached} job(s) from cache)"
    artifact = pipeline.get("artifact")
    tail = f" → artifact {artifact[:19]}…" if artifact else ""
    return f"{words}: {detail}{tail}"


def _overlapping(jobs: list[dict[str, Any]]) -> bool:
    """Whether the jobs ran at the same time (ISO times compare as text)."""
    spans = [(j["started_at"], j["finished_at"]) for j in jobs if j.get("started_at")]
    return any(
        a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1 :] if a[1]
    )


def _why(pipeline: dict[str, Any]) -> str:
    failed = [j for j in pipeline.get("jobs") or [] if j["status"] in {"failed", "infra_failed"}]
    if pipeline.get("error"):
        return str(pipeline["error"])
    if failed:
        return "; ".join(f"{j['name']}: {j.get('reason') or 'failed'}" for j in failed)
    return "no job failed"


def decisions(rollout: dict[str, Any], *kinds: str) -> list[str]:
    """The sentences of the rollout's decisions of these kinds, in order."""
    return [d["sentence"] for d in rollout.get("decisions") or [] if d["kind"] in kinds]
