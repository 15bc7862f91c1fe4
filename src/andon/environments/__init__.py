"""Environments: everything one needs to be recreated from andon.yaml, and to tell when it
no longer matches.

Deciding, purely: :func:`resolve_environment` applies ``from:``, :func:`layer_values` gives
the values config templates see, :func:`assess_drift` compares a :class:`DeclaredState`
with an :class:`ActualState`, and :func:`decide_expired` names what the TTL reaper removes.
Acting: :func:`prepare_release` unpacks a verified artifact, :func:`render_templates`
renders config into it (all or nothing), :func:`provision_database` and
:func:`drop_database` manage each environment's own database, and :class:`SecretVault`
keeps secrets encrypted with a :class:`SecretBox`.
"""

from andon.environments.databases import (
    DatabaseInfo,
    database_name,
    drop_database,
    provision_database,
    sqlite_path,
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
from andon.environments.releases import (
    prepare_release,
    release_digest,
    release_files,
)
from andon.environments.rendering import TemplateError, render_templates
from andon.environments.secrets import (
    SecretBox,
    SecretVault,
    check_secret_name,
    load_secret_key,
    secret_values,
)
from andon.environments.values import (
    layer_values,
    provided_values,
    resolve_environment,
)

__all__ = [
    "ActualState",
    "DatabaseInfo",
    "DeclaredProcess",
    "DeclaredState",
    "DriftItem",
    "DriftKind",
    "Expiring",
    "InstanceState",
    "SecretBox",
    "SecretVault",
    "TemplateError",
    "assess_drift",
    "check_secret_name",
    "database_name",
    "decide_expired",
    "drop_database",
    "fingerprint",
    "instance_names",
    "layer_values",
    "load_secret_key",
    "prepare_release",
    "provided_values",
    "provision_database",
    "release_digest",
    "release_files",
    "render_templates",
    "resolve_environment",
    "secret_values",
    "sqlite_path",
]
