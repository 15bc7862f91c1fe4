"""The store: Andon's database, its schema and migrations, and the repositories over it.

The server and the CLI's local commands open it with :func:`open_store` and use its
repositories (``store.projects``, ``store.pipelines``, ``store.jobs``, ``store.artifacts``,
``store.line``, ``store.flaky``, ``store.environments``, ``store.secrets``, ``store.rollouts``,
``store.deploy_events``, for feature flags ``store.flags``, ``store.flag_tokens`` and
``store.flag_events``, and for people and controls ``store.users``, ``store.api_tokens``,
``store.freezes`` and ``store.audit``); nothing outside this package touches SQLAlchemy.
"""

from andon.store._artifacts import ArtifactRecord, ArtifactRepository
from andon.store._audit import AuditCheck, AuditEntry, AuditRepository
from andon.store._deploy_events import DeployEventKind, DeployEventRecord, DeployEventRepository
from andon.store._environments import (
    EnvironmentKind,
    EnvironmentRecord,
    EnvironmentRepository,
    EnvironmentStatus,
)
from andon.store._flag_events import Conversion, Exposure, FlagClientRecord, FlagEventRepository
from andon.store._flag_tokens import FlagTokenRecord, FlagTokenRepository
from andon.store._flags import (
    FlagChangeKind,
    FlagHistoryRecord,
    FlagSetContent,
    FlagSetRecord,
    FlagSetRepository,
    NewFlagHistory,
)
from andon.store._flaky import FlakySummary, FlakyTestRecord, FlakyTestRepository
from andon.store._freezes import FreezeRecord, FreezeRepository
from andon.store._jobs import JobRecord, JobRepository, NewJob
from andon.store._line import LineEventRecord, LineEventRepository
from andon.store._people import (
    EVERY_PROJECT,
    ApiTokenRecord,
    ApiTokenRepository,
    Role,
    UserRecord,
    UserRepository,
)
from andon.store._pipelines import PipelineRecord, PipelineRepository
from andon.store._projects import ProjectRecord, ProjectRepository
from andon.store._rollouts import RolloutRecord, RolloutRepository, RolloutStatus
from andon.store._secrets import SecretRepository
from andon.store._statuses import JobStatus, LineState, PipelineStatus
from andon.store._store import Store, open_store
from andon.store._tables import MAX_ID, metadata
from andon.store._urls import redact_url

__all__ = [
    "EVERY_PROJECT",
    "MAX_ID",
    "ApiTokenRecord",
    "ApiTokenRepository",
    "ArtifactRecord",
    "ArtifactRepository",
    "AuditCheck",
    "AuditEntry",
    "AuditRepository",
    "Conversion",
    "DeployEventKind",
    "DeployEventRecord",
    "DeployEventRepository",
    "EnvironmentKind",
    "EnvironmentRecord",
    "EnvironmentRepository",
    "EnvironmentStatus",
    "Exposure",
    "FlagChangeKind",
    "FlagClientRecord",
    "FlagEventRepository",
    "FlagHistoryRecord",
    "FlagSetContent",
    "FlagSetRecord",
    "FlagSetRepository",
    "FlagTokenRecord",
    "FlagTokenRepository",
    "FlakySummary",
    "FlakyTestRecord",
    "FlakyTestRepository",
    "FreezeRecord",
    "FreezeRepository",
    "JobRecord",
    "JobRepository",
    "JobStatus",
    "LineEventRecord",
    "LineEventRepository",
    "LineState",
    "NewFlagHistory",
    "NewJob",
    "PipelineRecord",
    "PipelineRepository",
    "PipelineStatus",
    "ProjectRecord",
    "ProjectRepository",
    "Role",
    "RolloutRecord",
    "RolloutRepository",
    "RolloutStatus",
    "SecretRepository",
    "Store",
    "UserRecord",
    "UserRepository",
    "metadata",
    "open_store",
    "redact_url",
]
