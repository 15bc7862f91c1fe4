"""What people ask of rollouts, checked before anything moves: ``deploy`` (the
environment is up, the artifact verifies, the line and the deploy lock allow it, the plan
is made and its warnings said), a command for the rollout under way (refused at once
with the reason when the engine would refuse it), and ``undo``.

The rollouts API calls :class:`Deploys`; the :class:`~andon.server.rolling_out.
RolloutController` then drives what was recorded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from andon.environments import (
    EnvironmentLifecycle,
    instance_counts,
    order_for_release,
    read_spec_at,
)
from andon.environments.declaring import declared_migrations, http_process
from andon.errors import ArtifactError, ConflictError, ForbiddenError, NotFoundError
from andon.pipeline import assess_promotion, line_view
from andon.rollout import (
    CommandKind,
    OperatorCommand,
    RolloutState,
    assess_command,
    plan_rollout,
    plan_undo,
)
from andon.server.access import SYSTEM_ACTOR
from andon.server.access import record as audit
from andon.server.rolling_out import RolloutController
from andon.server.rollout_records import RolloutDocument, carried_commits, old_release
from andon.spec import Approval, MigrationsSpec, Strategy
from andon.store import EnvironmentStatus, FreezeRecord, RolloutRecord, RolloutStatus, Store


@dataclass(frozen=True)
class DeployRequest:
    """``andon deploy ENV``: which release, how, and by whom."""

    project: str
    environment: str
    artifact: str | None = None
    commit: str | None = None
    strategy: Strategy | None = None
    queue: bool = False
    """Wait for a rollout under way instead of being refused."""
    by: str = ""
    break_glass: str = ""
    """Why this deploy goes through a freeze window of the environment (audited, told)."""


class Deploys:
    """Starts rollouts, passes commands to them, undoes them."""

    def __init__(
        self, store: Store, lifecycle: EnvironmentLifecycle, controller: RolloutController
    ) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.controller = controller

    async def deploy(self, request: DeployRequest) -> RolloutRecord:
        """Record a rollout of the release to the environment (running, or queued behind
        the one under way when asked); every refusal is one sentence saying what to do."""
        store, project, name = self.store, request.project, request.environment
        environment = self.lifecycle.get(project, name)
        if environment.status is not EnvironmentStatus.READY:
            raise ConflictError(
                f"environment {name} of {project} is {environment.status.value}, not ready; "
                f"'andon env up {name}' creates it, then deploy to it."
            )
        order = self.lifecycle.compose(
            project=project, name=name, artifact=request.artifact, commit=request.commit
        )
        try:
            await asyncio.to_thread(self.lifecycle.artifacts.verify, order.artifact)
        except ArtifactError as exc:
            # Nothing is recorded: a release that is not what was built never starts.
            raise ConflictError(f"cannot deploy to {name}: {exc.message}") from exc
        self._check_line(project, name, order.artifact, protected=order.environment.protected)
        frozen = self._check_freeze(request)
        spec = order.spec
        migrations = spec.database.migrations if spec.database is not None else None
        breaking = await asyncio.to_thread(
            self._breaking, environment.artifact, order.artifact, migrations
        )
        plan = plan_rollout(
            spec.release,
            instances=instance_counts(spec, order.environment)[http_process(spec)],
            strategy=request.strategy or order.environment.strategy,
            migrations=migrations,
            breaking=breaking,
            smoke=bool(spec.smoke.http or spec.smoke.commands),
            requires_approval=order.environment.approval is Approval.REQUIRED,
        )
        state = RolloutState.begin(
            plan,
            stable=environment.version,
            canary=order.version,
            now=self.lifecycle.clock(),
            by=request.by,
        )
        # A rollout queued already goes first: a deploy must not overtake it in the gap
        # between the lock's release and the queued one taking it.
        ahead = store.rollouts.active(project, name) or store.rollouts.next_queued(project, name)
        if ahead is not None and not request.queue:
            raise ConflictError(
                f"environment {name} of {project} has a rollout in progress (#{ahead.id}, "
                f"{ahead.status.value}); wait for it, deploy with --queue, or abort it with "
                f"'andon rollout abort {name}'."
            )
        carried = await asyncio.to_thread(
            carried_commits,
            store,
            self.lifecycle.settings,
            project,
            environment.version,
            order.version,
        )
        record = store.rollouts.create(
            project=project,
            environment=name,
            strategy=plan.strategy.value,
            from_version=environment.version,
            from_artifact=environment.artifact,
            to_version=order.version,
            to_artifact=order.artifact,
            commits=carried.commits,
            state=RolloutDocument.new(plan, state, carried.times),
            created_by=request.by,
            status=RolloutStatus.QUEUED if ahead is not None else RolloutStatus.RUNNING,
            message=state.decisions[-1].sentence if state.decisions else "",
        )
        if not state.approved:
            # A protected environment: nothing moves until a person approves, so they
            # are told now rather than finding it waiting.
            self.controller.notifier.approval_requested(record, self.lifecycle.clock())
        if frozen:
            self._glass_broken(request, record, frozen)
        self.controller.wake()
        return record

    def _check_freeze(self, request: DeployRequest) -> list[FreezeRecord]:
        """The freeze windows this deploy goes through (with a reason to break the glass);
        ConflictError when the environment is frozen and no reason was given."""
        now = self.lifecycle.clock()
        frozen = self.store.freezes.active(request.project, request.environment, now)
        if frozen and not request.break_glass.strip():
            window = frozen[0]
            raise ConflictError(
                f"environment {request.environment} of {request.project} is frozen until "
                f"{window.ends_at.isoformat(timespec='minutes')} ({window.reason}, by "
                f"{window.created_by}); to deploy anyway, break the glass with a reason: "
                f"'andon deploy {request.environment} --break-glass \"why\"'."
            )
        return frozen

    def _glass_broken(
        self, request: DeployRequest, record: RolloutRecord, frozen: list[FreezeRecord]
    ) -> None:
        windows = [
            {"id": f.id, "reason": f.reason, "ends_at": f.ends_at.isoformat()} for f in frozen
        ]
        audit(
            self.store,
            "rollouts.break_glass",
            f"{request.project}/{request.environment}#{record.id}",
            actor=request.by or SYSTEM_ACTOR,
            after={"reason": request.break_glass, "freezes": windows, "version": record.to_version},
        )
        self.controller.notifier.glass_broken(record, request.break_glass, self.lifecycle.clock())

    def current(self, project: str, name: str) -> RolloutRecord:
        """The rollout under way in the environment, else the latest one."""
        self.lifecycle.get(project, name)
        active = self.store.rollouts.active(project, name)
        if active is not None:
            return active
        latest = self.store.rollouts.list(project=project, environment=name, limit=1)
        if not latest:
            raise NotFoundError(
                f"environment {name} of {project} has had no rollout; 'andon deploy {name}' "
                "starts one."
            )
        return latest[0]

    def command(
        self, project: str, name: str, kind: CommandKind, *, by: str = "", reason: str = ""
    ) -> RolloutRecord:
        """Queue a command for the environment's rollout; ConflictError with the reason
        when it cannot be carried out now."""
        record = self.current(project, name)
        document = RolloutDocument(record.state)
        command = OperatorCommand(kind, by=by, reason=reason)
        refusal = assess_command(document.plan, document.state, command, self.lifecycle.clock())
        if refusal is not None:
            verb = kind.value.replace("_", " ")
            raise ConflictError(f"cannot {verb} rollout #{record.id}: {refusal.rstrip('.')}.")
        if record.status.finished and kind is not CommandKind.RETRY:
            raise ConflictError(f"rollout #{record.id} has ended ({record.status.value}).")
        if kind is CommandKind.APPROVE and by and by == record.created_by:
            raise ForbiddenError(
                f"{by} asked for rollout #{record.id} and cannot approve it too: someone "
                "else with the deployer role must approve it (four eyes)."
            )
        if kind is CommandKind.APPROVE:
            # Approval is when a protected environment's rollout starts: the line may
            # have stopped since it was asked for.
            order = order_for_release(
                self.store,
                self.lifecycle.settings,
                self.store.environments.get(project, name),
                record.to_artifact,
                record.to_version,
            )
            self._check_line(
                project, name, record.to_artifact, protected=order.environment.protected
            )
        state = dict(record.state)
        state["commands"] = [
            *state.get("commands", []),
            {"kind": kind.value, "by": by, "reason": reason},
        ]
        if kind is CommandKind.RETRY:
            updated = self.store.rollouts.update(
                record.id, state=state, status=RolloutStatus.RUNNING, finished_at=None
            )
        else:
            updated = self.store.rollouts.update(record.id, state=state)
        self.controller.wake()
        return updated

    def undo(self, project: str, name: str, *, by: str = "") -> RolloutRecord:
        """Back to the last known good release: abort the rollout under way (its old
        version is warm), or roll back the last one that succeeded."""
        environment = self.lifecycle.get(project, name)
        if not self.store.rollouts.list(project=project, environment=name, limit=1):
            serving = ""
            if environment.version is not None:
                serving = f" runs {environment.version[:12]} since 'andon env up' and"
            raise ConflictError(
                f"there is no release to undo to: environment {name} of {project}{serving} "
                f"has had no rollout; 'andon deploy {name}' deploys another version."
            )
        record = self.current(project, name)
        document = RolloutDocument(record.state)
        undo = plan_undo(document.plan, document.state, self.lifecycle.clock(), by=by)
        if undo.command is not None:
            return self.command(project, name, undo.command.kind, by=by, reason="undo")
        assert undo.plan is not None and undo.state is not None
        old_version, old_artifact, _ = old_release(record)
        if old_version is None or old_artifact is None:
            raise ConflictError(f"there is no release before {record.to_version[:12]} to undo to.")
        created = self.store.rollouts.create(
            project=project,
            environment=name,
            strategy=undo.plan.strategy.value,
            from_version=environment.version,
            from_artifact=environment.artifact,
            to_version=old_version,
            to_artifact=old_artifact,
            commits=[],
            state=RolloutDocument.new(undo.plan, undo.state),
            created_by=by,
            status=RolloutStatus.RUNNING,
            message=undo.sentence,
        )
        self.controller.wake()
        return created

    # -- helpers ---------------------------------------------------------------------------

    def _check_line(self, project: str, name: str, artifact: str, *, protected: bool) -> None:
        """ConflictError with the line's reason when it holds the artifact back from a
        protected environment."""
        green = self.store.pipelines.last_green_on_trunk(project)
        refusal = assess_promotion(
            line_view(self.store, project),
            environment=name,
            protected=protected,
            artifact_pipeline_id=self.store.artifacts.get(artifact).pipeline_id,
            last_green_pipeline_id=green.id if green else None,
            now=self.lifecycle.clock(),
        )
        if refusal is not None:
            raise ConflictError(refusal.message)

    def _breaking(self, old: str | None, new: str, migrations: MigrationsSpec | None) -> list[str]:
        """The migrations the new release brings that andon.yaml calls breaking."""
        if migrations is None or not migrations.breaking:
            return []
        brought = set(self._migrations_of(new)) - set(self._migrations_of(old))
        return [name for name in migrations.breaking if name in brought]

    def _migrations_of(self, artifact: str | None) -> list[str]:
        if artifact is None:
            return []
        # The manifest lists the release's files; declared_migrations picks the migrations.
        manifest = self.lifecycle.artifacts.verify(artifact)
        record = self.store.artifacts.get(artifact)
        project = self.store.projects.get(record.project)
        spec = read_spec_at(self.lifecycle.settings, project, record.commit)
        return declared_migrations(spec, list(manifest.files))
