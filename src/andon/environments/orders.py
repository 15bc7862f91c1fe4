"""What to build for ``andon env up``: which artifact (named, the one of a commit, or the
last green one on trunk), andon.yaml as it was at that version, and the environment it
declares (or an ephemeral copy of one), gathered into an :class:`EnvironmentOrder`.

The environments API composes the order first, so that it can ask the line about a
protected environment before anything is made; the lifecycle then carries it out.
``recreate``, drift and diff read the order of an existing environment back from its
record with :func:`order_from_record`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from andon.environments.declaring import check_environment_name, copy_declared
from andon.environments.values import resolve_environment
from andon.errors import NotFoundError, UsageError
from andon.repos import GitRepository
from andon.settings import Settings
from andon.spec import AndonSpec, EnvironmentSpec, parse_spec
from andon.spec.environments import DEFAULT_TTL
from andon.store import (
    ArtifactRecord,
    EnvironmentKind,
    EnvironmentRecord,
    ProjectRecord,
    Store,
)


@dataclass(frozen=True)
class EnvironmentOrder:
    """Everything needed to build one environment."""

    project: str
    name: str
    kind: EnvironmentKind
    artifact: str
    """The digest of the artifact to run."""
    artifact_pipeline_id: int | None
    """The pipeline that built it first, which the line's promotion check compares."""
    version: str
    """The commit whose andon.yaml declares the environment."""
    spec: AndonSpec
    """andon.yaml at ``version``; an ephemeral environment is declared in it as a copy."""
    environment: EnvironmentSpec
    """The environment's declaration with ``from:`` resolved."""
    copied_from: str | None = None
    expires_at: datetime | None = None


def compose_order(
    store: Store,
    settings: Settings,
    *,
    project: str,
    name: str,
    now: datetime,
    artifact: str | None = None,
    commit: str | None = None,
    copy_from: str | None = None,
    ttl: timedelta | None = None,
) -> EnvironmentOrder:
    """The order for ``andon env up NAME``: ``artifact`` (a digest or its prefix), the
    artifact of ``commit``, or by default that of the last green pipeline on trunk.

    NotFoundError names what is missing (with a did-you-mean for an environment
    andon.yaml does not declare); UsageError for arguments that cannot go together.
    """
    check_environment_name(name)
    record = store.projects.get(project)
    if artifact and commit:
        raise UsageError("give --artifact or --commit, not both.")
    chosen, version = _choose_artifact(store, settings, record, artifact, commit)
    spec = read_spec_at(settings, record, version)
    kind = EnvironmentKind.DECLARED
    if copy_from is not None:
        if name in spec.environments:
            raise UsageError(
                f"{name} is declared in andon.yaml; 'andon env up {name}' creates it as "
                "declared, or choose another name for a copy."
            )
        resolve_environment(spec, copy_from)
        spec = copy_declared(spec, name, copy_from)
        kind = EnvironmentKind.EPHEMERAL
    environment = _declared(spec, name)
    lifetime = ttl or environment.ttl
    if kind is EnvironmentKind.EPHEMERAL and lifetime is None:
        lifetime = DEFAULT_TTL
    return EnvironmentOrder(
        project=project,
        name=name,
        kind=kind,
        artifact=chosen.digest,
        artifact_pipeline_id=chosen.pipeline_id,
        version=version,
        spec=spec,
        environment=environment,
        copied_from=copy_from,
        expires_at=None if lifetime is None else now + lifetime,
    )


def order_from_record(
    store: Store, settings: Settings, record: EnvironmentRecord
) -> EnvironmentOrder:
    """The order an existing environment was built from: its artifact, its version's
    andon.yaml, its copy and its expiry."""
    if record.artifact is None or record.version is None:
        raise NotFoundError(
            f"environment {record.name} of {record.project} was never given an artifact; "
            f"'andon env down {record.name}' removes it."
        )
    return order_for_release(store, settings, record, record.artifact, record.version)


def order_for_release(
    store: Store, settings: Settings, record: EnvironmentRecord, artifact: str, version: str
) -> EnvironmentOrder:
    """The order of an existing environment running another release: ``artifact`` built
    from commit ``version``, with that commit's andon.yaml (a rollout's old and new)."""
    project = store.projects.get(record.project)
    found = store.artifacts.get(artifact)
    spec = read_spec_at(settings, project, version)
    if record.copied_from is not None:
        spec = copy_declared(spec, record.name, record.copied_from)
    return EnvironmentOrder(
        project=record.project,
        name=record.name,
        kind=record.kind,
        artifact=found.digest,
        artifact_pipeline_id=found.pipeline_id,
        version=version,
        spec=spec,
        environment=resolve_environment(spec, record.name),
        copied_from=record.copied_from,
        expires_at=record.expires_at,
    )


def read_spec_at(settings: Settings, project: ProjectRecord, commit: str) -> AndonSpec:
    """andon.yaml of ``project`` as committed at ``commit``; SpecError with every located
    problem when it is invalid there."""
    repo = GitRepository.open(project.source, mirrors=settings.repos_dir, name=project.name)
    prefix = f"{project.subdir}/" if project.subdir else ""
    raw = repo.read(commit, f"{prefix}andon.yaml")

    def exists(relative: str) -> bool:
        return repo.exists(commit, f"{prefix}{relative}")

    return parse_spec(raw, source=f"{prefix}andon.yaml", file_exists=exists)


def _choose_artifact(
    store: Store,
    settings: Settings,
    project: ProjectRecord,
    artifact: str | None,
    commit: str | None,
) -> tuple[ArtifactRecord, str]:
    """The artifact to run and the commit whose andon.yaml goes with it."""
    name = project.name
    if artifact:
        found = store.artifacts.get(artifact)
        if found.project != name:
            raise NotFoundError(
                f"artifact {found.digest[:19]} belongs to {found.project}, not {name}; "
                f"'andon artifact list --project {name}' shows its artifacts."
            )
        return found, found.commit
    if commit:
        repo = GitRepository.open(project.source, mirrors=settings.repos_dir, name=name)
        full = repo.resolve(commit)
        digest = store.pipelines.artifact_for_commit(name, full)
        if digest is None:
            raise NotFoundError(
                f"commit {full[:12]} of {name} has no artifact yet; 'andon pipeline run "
                f"--ref {commit} --wait' builds one."
            )
        return store.artifacts.get(digest), full
    green = store.pipelines.last_green_on_trunk(name)
    if green is None or green.artifact is None:
        raise NotFoundError(
            f"{name} has no green pipeline on trunk yet; wait for one ('andon pipeline "
            "list') or name an artifact with --artifact."
        )
    return store.artifacts.get(green.artifact), green.commit


def _declared(spec: AndonSpec, name: str) -> EnvironmentSpec:
    try:
        return resolve_environment(spec, name)
    except NotFoundError as exc:
        if name in spec.environments:
            raise
        raise NotFoundError(
            f"{exc.message.rstrip('.')}; or copy one: 'andon env up {name} --from ENV'."
        ) from exc
