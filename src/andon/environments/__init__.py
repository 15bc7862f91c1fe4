"""Environments: everything one needs to be recreated from andon.yaml, and to tell when it
no longer matches.

:class:`EnvironmentLifecycle` is the whole life of one: :func:`compose_order` decides what
to build (artifact, andon.yaml at its version, the environment or an ephemeral copy),
:class:`EnvironmentCreation` builds it step by step (``env up``), ``down`` removes it, and
``check_drift``/``snapshot`` look at it.

Deciding, purely: :func:`resolve_environment` applies ``from:``, :func:`layer_values` gives
the values config templates see, :func:`plan_instances` the instances it runs,
:func:`assess_drift` compares a :class:`DeclaredState` with an :class:`ActualState`,
:func:`assess_difference` compares two environments, and :func:`decide_expired` names
what the TTL reaper removes. Acting: :func:`prepare_release` unpacks a verified artifact,
:func:`render_templates` renders config into it (all or nothing),
:func:`provision_database` and :func:`drop_database` manage each environment's own
database, :func:`run_command` runs migrations, seed data and smoke commands into logs
that mask secrets, :func:`run_smoke_tests` checks a new environment, and
:class:`SecretVault` keeps secrets encrypted with a :class:`SecretBox`.
"""

from andon.environments.commands import CommandOutcome, MaskedLog, mask, run_command
from andon.environments.creating import EnvironmentCreation
from andon.environments.databases import (
    DatabaseInfo,
    database_info,
    database_name,
    drop_database,
    environment_dir,
    provision_database,
    sqlite_path,
)
from andon.environments.declaring import (
    PlannedInstance,
    agent_environment,
    check_environment_name,
    instance_counts,
    instance_id,
    instance_name,
    plan_instances,
    version_label,
)
from andon.environments.deploying import ReleaseDeployment, VersionReport
from andon.environments.diffing import (
    Difference,
    DifferenceKind,
    EnvironmentSnapshot,
    assess_difference,
)
from andon.environments.drift import (
    ActualState,
    DeclaredProcess,
    DeclaredState,
    DriftItem,
    DriftKind,
    InstanceState,
    assess_drift,
    fingerprint,
    instance_names,
)
from andon.environments.expiring import Expiring, decide_expired
from andon.environments.lifecycle import EnvironmentLifecycle, RuntimeFactory
from andon.environments.observing import (
    Observed,
    applied_migrations,
    declared_state,
    observe_environment,
)
from andon.environments.orders import (
    EnvironmentOrder,
    compose_order,
    order_for_release,
    order_from_record,
    read_spec_at,
)
from andon.environments.releases import (
    prepare_release,
    release_digest,
    release_files,
    release_path,
)
from andon.environments.rendering import TemplateError, render_templates
from andon.environments.secrets import (
    SecretBox,
    SecretVault,
    check_secret_name,
    load_secret_key,
    secret_values,
)
from andon.environments.smoking import run_smoke_tests
from andon.environments.steps import (
    Progress,
    StepError,
    StepEvent,
    StepRunner,
    StepStatus,
    ignore_progress,
)
from andon.environments.values import (
    layer_values,
    provided_values,
    resolve_environment,
)

__all__ = [
    "ActualState",
    "CommandOutcome",
    "DatabaseInfo",
    "DeclaredProcess",
    "DeclaredState",
    "Difference",
    "DifferenceKind",
    "DriftItem",
    "DriftKind",
    "EnvironmentCreation",
    "EnvironmentLifecycle",
    "EnvironmentOrder",
    "EnvironmentSnapshot",
    "Expiring",
    "InstanceState",
    "MaskedLog",
    "Observed",
    "PlannedInstance",
    "Progress",
    "ReleaseDeployment",
    "RuntimeFactory",
    "SecretBox",
    "SecretVault",
    "StepError",
    "StepEvent",
    "StepRunner",
    "StepStatus",
    "TemplateError",
    "VersionReport",
    "agent_environment",
    "applied_migrations",
    "assess_difference",
    "assess_drift",
    "check_environment_name",
    "check_secret_name",
    "compose_order",
    "database_info",
    "database_name",
    "decide_expired",
    "declared_state",
    "drop_database",
    "environment_dir",
    "fingerprint",
    "ignore_progress",
    "instance_counts",
    "instance_id",
    "instance_name",
    "instance_names",
    "layer_values",
    "load_secret_key",
    "mask",
    "observe_environment",
    "order_for_release",
    "order_from_record",
    "plan_instances",
    "prepare_release",
    "provided_values",
    "provision_database",
    "read_spec_at",
    "release_digest",
    "release_files",
    "release_path",
    "render_templates",
    "resolve_environment",
    "run_command",
    "run_smoke_tests",
    "secret_values",
    "sqlite_path",
    "version_label",
]
