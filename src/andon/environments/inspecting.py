"""Looking at an existing environment from what its record and order say: the declared
state drift is judged against and where to observe it, the snapshot ``env diff``
compares, and which of its logs ``andon logs`` reads.

:class:`~andon.environments.EnvironmentLifecycle` gathers the record, the order, the
artifact's manifest and the secrets, and calls these; nothing here talks to a runtime.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from andon.artifacts import Manifest
from andon.environments.databases import DatabaseInfo, environment_dir
from andon.environments.declaring import (
    declared_migrations,
    instance_counts,
    instance_name,
    plan_instances,
    variables,
)
from andon.environments.diffing import EnvironmentSnapshot
from andon.environments.drift import DeclaredState, fingerprint
from andon.environments.observing import Observed, declared_state
from andon.environments.orders import EnvironmentOrder
from andon.environments.releases import release_files, release_path
from andon.environments.values import PROVIDED_NAMES, layer_values
from andon.errors import NotFoundError
from andon.runtimes import InstanceStatus
from andon.settings import Settings
from andon.store import EnvironmentRecord

COMMAND_LOGS = ("migrate", "seed", "smoke")
"""The steps whose commands' output ``andon logs`` gives as if they were processes."""


def declaration(
    order: EnvironmentOrder,
    record: EnvironmentRecord,
    *,
    manifest: Manifest,
    secrets: Mapping[str, str],
    database: DatabaseInfo | None,
    settings: Settings,
    local: bool,
) -> tuple[DeclaredState, Observed]:
    """What the environment's deploy declared, and where to look at what runs."""
    spec, digest = order.spec, order.artifact
    found = variables(
        spec,
        env_name=record.name,
        version=order.version,
        artifact=digest,
        secrets=secrets,
        database=database,
    )
    declared = declared_state(
        artifact=digest,
        release_files=release_files(manifest),
        config=record.config_checksums,
        instances=plan_instances(spec, order.environment),
        variables=found,
        migrations=declared_migrations(spec, manifest.files),
    )
    home = environment_dir(settings, record.project, record.name)
    where = Observed(
        project=record.project,
        name=record.name,
        release=release_path(home, digest),
        templates=spec.config.templates,
        database=database,
        local=local,
    )
    return declared, where


def snapshot(
    order: EnvironmentOrder,
    record: EnvironmentRecord,
    *,
    secrets: Mapping[str, str],
    applied: Sequence[str] | None,
) -> EnvironmentSnapshot:
    """What ``env diff`` compares: version, values (without secrets or the values Andon
    provides), secret fingerprints, instance counts, the last migration applied."""
    values = layer_values(order.spec, record.name, {}, version=order.version)
    for provided in PROVIDED_NAMES:
        values.pop(provided, None)
    return EnvironmentSnapshot(
        name=record.name,
        version=record.version,
        artifact=record.artifact,
        values=values,
        secrets={key: fingerprint(value) for key, value in secrets.items()},
        instances=instance_counts(order.spec, order.environment),
        schema=applied[-1] if applied else None,
    )


def command_log(settings: Settings, record: EnvironmentRecord, step: str) -> Path:
    """The log of one step's commands (``migrate``, ``seed``, ``smoke``)."""
    return environment_dir(settings, record.project, record.name) / "logs" / f"{step}.log"


def choose_instances(
    record: EnvironmentRecord,
    statuses: Sequence[InstanceStatus],
    *,
    process: str | None,
    version: str | None,
) -> list[InstanceStatus]:
    """The instances of ``process`` and of ``version`` (or a prefix of its commit);
    NotFoundError naming those there are when none is."""
    chosen = [
        status
        for status in statuses
        if (process is None or status.process == process)
        and (version is None or status.version.startswith(version[:12]))
    ]
    if not chosen:
        project, name = record.project, record.name
        running = ", ".join(instance_name(project, name, s.id) for s in statuses) or "none"
        wanted = " ".join(filter(None, (process, version))) or "any process"
        raise NotFoundError(
            f"environment {name} of {project} has no instance of {wanted}; its instances: "
            f"{running}; the logs of its commands are --process {', '.join(COMMAND_LOGS)}."
        )
    return chosen
