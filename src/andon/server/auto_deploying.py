"""The auto-deployer: every green commit on trunk goes, by itself, to each ready
environment whose andon.yaml says ``auto_deploy: true`` — once per commit and
environment, so that a release rolled back is not deployed again until a newer commit is
green, and never while the line is stopped (a newer trunk pipeline failed).

The pipeline scheduler calls :meth:`AutoDeployer.tick` at each of its ticks, and it ticks
as soon as a pipeline ends. A deploy goes through :class:`~andon.server.deploys.Deploys`
like ``andon deploy --queue``: the artifact is verified, a protected environment checks
the line and its approvals, and a rollout under way is waited for.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from andon.errors import AndonError
from andon.server.deploys import DeployRequest, Deploys
from andon.store import EnvironmentStatus, PipelineStatus, RolloutRecord, Store

log = logging.getLogger("andon.server.auto_deploy")

BY = "auto-deploy"
"""Who the rollouts it starts say asked for them."""

_LOOKED_BACK = 50
"""Rollouts of an environment searched for an earlier one of the same commit."""


class AutoDeployer:
    """Deploys the newest green trunk artifact where andon.yaml asks for it."""

    def __init__(self, store: Store, deploys: Deploys) -> None:
        self.store = store
        self.deploys = deploys
        self._refused: set[tuple[str, str, str]] = set()

    async def tick(self, now: datetime) -> list[RolloutRecord]:
        """Deploy where due; the rollouts started."""
        started = []
        for project in self.store.projects.list():
            last = self.store.pipelines.last_finished_on_trunk(project.name)
            # A stopped line promotes nothing, not even the last green commit before it.
            if last is None or last.status is not PipelineStatus.SUCCESS or not last.artifact:
                continue
            for environment in self.store.environments.list(
                project.name, statuses=[EnvironmentStatus.READY]
            ):
                key = (project.name, environment.name, last.commit)
                if environment.version == last.commit or key in self._refused:
                    continue
                if self._deployed_before(project.name, environment.name, last.commit):
                    continue
                record = await self._deploy(key)
                if record is not None:
                    started.append(record)
        return started

    def _deployed_before(self, project: str, environment: str, commit: str) -> bool:
        rollouts = self.store.rollouts.list(project, environment, limit=_LOOKED_BACK)
        return any(rollout.to_version == commit for rollout in rollouts)

    async def _deploy(self, key: tuple[str, str, str]) -> RolloutRecord | None:
        project, environment, commit = key
        try:
            # By commit, not by artifact: a commit that changed only andon.yaml shares its
            # artifact with the one before, and the artifact alone names that one's spec.
            order = await asyncio.to_thread(
                self.deploys.lifecycle.compose, project=project, name=environment, commit=commit
            )
            if not order.environment.auto_deploy:
                self._refused.add(key)
                return None
            record = await self.deploys.deploy(
                DeployRequest(
                    project=project,
                    environment=environment,
                    commit=commit,
                    queue=True,
                    by=BY,
                )
            )
        except AndonError as exc:
            # Refused (the line, an approval, an artifact that does not verify): said once
            # in the log, and not tried again for this commit.
            self._refused.add(key)
            log.warning(
                "cannot auto-deploy %s to %s of %s: %s",
                commit[:12],
                environment,
                project,
                exc.message,
            )
            return None
        log.info(
            "auto-deploying %s to %s of %s: rollout #%d",
            commit[:12],
            environment,
            project,
            record.id,
        )
        return record
