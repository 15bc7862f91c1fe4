"""The store's schema: the SQLAlchemy ``metadata`` and its tables.

Repositories query these tables; Alembic's ``env.py`` compares them with the database to
autogenerate migrations, and the tests check that the migrations build exactly this schema.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

PROJECT_NAME_MAX_LENGTH = 100
# Environment names are DNS labels (andon.yaml's name pattern).
ENVIRONMENT_NAME_MAX_LENGTH = 63
MAX_ID = 2**31 - 1
"""The largest record number: ids are INTEGER columns, 32 bits on PostgreSQL; a larger
number names no record, and the drivers refuse it as a parameter."""

# Fixed constraint names, so that a migration written on SQLite names the same constraints
# on PostgreSQL and a later migration can drop them by name on both. A unique constraint is
# named after all its columns: uq_jobs_pipeline_id_name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL keeps ``timestamptz`` but returns it in the session's time zone; SQLite keeps
    text without an offset and returns naive datetimes. Values are written as UTC and read
    back as UTC-aware on both.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            # A naive value is ambiguous; storing it would shift it by the host's offset.
            raise ValueError(f"the store keeps timezone-aware datetimes only, got {value!r}")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(PROJECT_NAME_MAX_LENGTH), nullable=False, unique=True),
    # A local path or a git URL; neither has a useful upper bound.
    Column("source", Text, nullable=False),
    # '' means the repository root.
    Column("subdir", Text, nullable=False),
    Column("trunk", Text, nullable=False),
    Column("service", Text, nullable=False),
    # The trunk commit at which ``spec`` was read.
    Column("commit", Text, nullable=False),
    # JSON rather than JSONB on PostgreSQL: JSONB reorders keys, and the spec is shown back
    # to people in the order they wrote it. Nothing queries inside it.
    Column("spec", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)


# Tables of the CI pipeline. They name projects by name, without a foreign key: the history
# of a project outlives its registration, and re-registering a name picks it up again.
# Pipeline and job ids are shown to people ("pipeline #5"); AUTOINCREMENT keeps SQLite from
# handing out the id of a deleted newest row again, as PostgreSQL's sequences never do.

pipelines = Table(
    "pipelines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project", String(PROJECT_NAME_MAX_LENGTH), nullable=False, index=True),
    Column("commit", Text, nullable=False),
    Column("branch", Text, nullable=False),
    # poll, hook, manual or rerun.
    Column("trigger", Text, nullable=False),
    Column("status", Text, nullable=False),
    # Why the pipeline could not run, e.g. the located errors of an invalid andon.yaml.
    Column("error", Text, nullable=True),
    Column("rerun_of", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    # The digest of the artifact the pipeline built.
    Column("artifact", Text, nullable=True),
    Column("on_trunk", Boolean, nullable=False),
    sqlite_autoincrement=True,
)

# One row per job run of a pipeline: a sharded spec job has one row per shard.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "pipeline_id",
        Integer,
        ForeignKey("pipelines.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # The run's name, e.g. "unit[1/2]"; ``job`` is the spec job it runs, e.g. "unit".
    Column("name", Text, nullable=False),
    Column("job", Text, nullable=False),
    Column("stage", Text, nullable=False),
    Column("shard_index", Integer, nullable=False),
    Column("shard_total", Integer, nullable=False),
    # Names of the jobs this one waits for.
    Column("needs", JSON, nullable=False),
    Column("status", Text, nullable=False),
    # A sentence for people: "exit code 1", "timed out after 5m".
    Column("reason", Text, nullable=False, default=""),
    Column("exit_code", Integer, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("cache_key", Text, nullable=True, index=True),
    # The id of the job whose result this one reuses.
    Column("cached_from", Integer, nullable=True),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("log_path", Text, nullable=True),
    # A summary of the job's test report; SQL NULL, not JSON null, when there is none.
    Column("tests", JSON(none_as_null=True), nullable=True),
    # Names of the tests that failed and then passed on a retry.
    Column("flaky", JSON, nullable=False, default=list),
    UniqueConstraint("pipeline_id", "name"),
    sqlite_autoincrement=True,
)

# Built artifacts, addressed by the digest of their contents.
artifacts = Table(
    "artifacts",
    metadata,
    # "sha256:<64 hex digits>".
    Column("digest", Text, primary_key=True),
    Column("project", String(PROJECT_NAME_MAX_LENGTH), nullable=False, index=True),
    Column("commit", Text, nullable=False),
    # The git tree the artifact was built from.
    Column("tree", Text, nullable=False),
    Column("pipeline_id", Integer, nullable=True),
    Column("size", Integer, nullable=False),
    # Where the store keeps the artifact's file.
    Column("path", Text, nullable=False),
    Column("manifest", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# The line's changes, appended and never edited; the newest is the line's current state.
line_events = Table(
    "line_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project", String(PROJECT_NAME_MAX_LENGTH), nullable=False, index=True),
    # The state the line is in after the event: running or stopped.
    Column("state", Text, nullable=False),
    # pipeline or manual.
    Column("cause", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("commit", Text, nullable=True),
    Column("pipeline_id", Integer, nullable=True),
    # E.g. the failing jobs and tests of the pipeline that stopped the line.
    Column("details", JSON, nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

# One row each time a test failed and then passed on a retry within one job.
flaky_tests = Table(
    "flaky_tests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project", String(PROJECT_NAME_MAX_LENGTH), nullable=False, index=True),
    Column("test", Text, nullable=False),
    Column("job", Text, nullable=False),
    Column("commit", Text, nullable=False),
    Column("pipeline_id", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
)


# Environments of every project. A name is unique within its project: an environment
# destroyed keeps its row (status destroyed) until it is created again, which replaces the
# row, or deleted; so the name is free again without a partial index that SQLite and
# PostgreSQL would each spell differently.
environments = Table(
    "environments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project", String(PROJECT_NAME_MAX_LENGTH), nullable=False),
    Column("name", String(ENVIRONMENT_NAME_MAX_LENGTH), nullable=False),
    # declared (in andon.yaml) or ephemeral (a copy made on demand, with a TTL).
    Column("kind", Text, nullable=False),
    Column("status", Text, nullable=False),
    # The digest of the artifact deployed, and the commit it was built from.
    Column("artifact", Text, nullable=True),
    Column("version", Text, nullable=True),
    Column("url", Text, nullable=True),
    Column("router_port", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True, index=True),
    # The environment an ephemeral one was copied from.
    Column("copied_from", Text, nullable=True),
    # The sha256 of each rendered config file, by its path in the release.
    Column("config_checksums", JSON, nullable=False),
    # engine, url (never with a password), and path or name; SQL NULL without a database.
    Column("database", JSON(none_as_null=True), nullable=True),
    # The differences found at the last drift check; SQL NULL before the first one.
    Column("drift", JSON(none_as_null=True), nullable=True),
    Column("drift_checked_at", UTCDateTime, nullable=True),
    # A sentence for people on the latest transition: "ready", "smoke test failed: ...".
    Column("message", Text, nullable=False),
    UniqueConstraint("project", "name"),
    # A re-created environment gets a new id, never the one of the row it replaced.
    sqlite_autoincrement=True,
)

# Secret values, encrypted (Fernet) before they reach the database, per environment.
secrets = Table(
    "secrets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project", String(PROJECT_NAME_MAX_LENGTH), nullable=False),
    Column("environment", String(ENVIRONMENT_NAME_MAX_LENGTH), nullable=False),
    Column("name", Text, nullable=False),
    Column("ciphertext", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("project", "environment", "name"),
)


# Rollouts: one release of a project moving into one environment, with the rollout engine's
# whole state, persisted after every decision so that a restarted server resumes it.
rollouts = Table(
    "rollouts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project", String(PROJECT_NAME_MAX_LENGTH), nullable=False),
    Column("environment", String(ENVIRONMENT_NAME_MAX_LENGTH), nullable=False),
    Column("status", Text, nullable=False),
    # recreate, rolling, blue-green or canary.
    Column("strategy", Text, nullable=False),
    # The release the environment ran before; NULL on its first deploy.
    Column("from_version", Text, nullable=True),
    Column("from_artifact", Text, nullable=True),
    Column("to_version", Text, nullable=False),
    Column("to_artifact", Text, nullable=False),
    # The commits the new release carries beyond the previous one, for lead time.
    Column("commits", JSON, nullable=False),
    # The rollout engine's state; the store never looks inside it.
    Column("state", JSON, nullable=False),
    # A sentence for people on the latest decision.
    Column("message", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    # Rollout ids are shown to people ("rollout #12"), never to be handed out twice.
    sqlite_autoincrement=True,
)
Index(
    "ix_rollouts_project_environment_id",
    rollouts.c.project,
    rollouts.c.environment,
    rollouts.c.id,
)
# The deploy lock: at most one running or paused rollout per environment. A unique index
# rather than a check-then-insert, so that two servers racing to start one both get a
# clean answer from the database. Both backends accept the same partial-index condition.
_IN_PROGRESS = text("status IN ('running', 'paused')")
Index(
    "ix_rollouts_deploy_lock",
    rollouts.c.project,
    rollouts.c.environment,
    unique=True,
    sqlite_where=_IN_PROGRESS,
    postgresql_where=_IN_PROGRESS,
)

# What happened to each environment's deploys, appended and never edited: the source of
# the DORA metrics (deployment frequency, lead time, change failure rate, time to restore).
deploy_events = Table(
    "deploy_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project", String(PROJECT_NAME_MAX_LENGTH), nullable=False),
    Column("environment", String(ENVIRONMENT_NAME_MAX_LENGTH), nullable=False),
    # No foreign key: the events outlive the rollouts they came from.
    Column("rollout_id", Integer, nullable=True),
    Column("kind", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("version", Text, nullable=False),
    Column("artifact", Text, nullable=False),
    Column("commits", JSON, nullable=False),
    Column("message", Text, nullable=False),
    # When each carried commit landed on trunk (sha → committer time, ISO 8601), for the
    # change lead time; {} when the repository could not tell, and on older events.
    Column("commit_times", JSON, nullable=False, server_default=text("'{}'")),
)
Index("ix_deploy_events_project_at", deploy_events.c.project, deploy_events.c.at)


# Feature flags: one flag set per (project, environment), its version bumped by every change
# under a compare-and-set on ``version``, so that two writers never hand out one version.
flag_sets = Table(
    "flag_sets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project", String(PROJECT_NAME_MAX_LENGTH), nullable=False),
    Column("environment", String(ENVIRONMENT_NAME_MAX_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    # The flagd document (flags, $evaluators, metadata), as SDKs and flagd read it.
    Column("document", JSON, nullable=False),
    # Andon's additions, by flag key: guards (lists) and experiments.
    Column("guards", JSON, nullable=False),
    Column("experiments", JSON, nullable=False),
    # Per flag key, what andon.yaml declared when it was last applied (flag, guards,
    # experiment): a running flag that differs from it was changed by hand since.
    Column("declared", JSON, nullable=False),
    # Per flag key, what a deploy declared but left alone because the flag was changed by
    # hand; shown until someone sets the flag again or declares what runs.
    Column("conflicts", JSON, nullable=False),
    # Per flag key, the flag as it was before a kill or a guard set it aside.
    Column("held", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("project", "environment"),
)

# Every change of a flag set, appended and never edited: one row per flag changed.
flag_history = Table(
    "flag_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project", String(PROJECT_NAME_MAX_LENGTH), nullable=False),
    Column("environment", String(ENVIRONMENT_NAME_MAX_LENGTH), nullable=False),
    # The flag set's version after the change (the same for the flags of one change).
    Column("version", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", Text, nullable=False),
    Column("reason", Text, nullable=False),
    # declared, set, killed, restored, guard_tripped or guard_restored.
    Column("kind", Text, nullable=False),
    Column("flag", Text, nullable=False),
    # The flag (definition, guards, experiment) before and after; SQL NULL when absent.
    Column("before", JSON(none_as_null=True), nullable=True),
    Column("after", JSON(none_as_null=True), nullable=True),
    Column("evidence", JSON, nullable=False),
    sqlite_autoincrement=True,
)
Index(
    "ix_flag_history_project_environment_id",
    flag_history.c.project,
    flag_history.c.environment,
    flag_history.c.id,
)

# Client tokens of the flag SDKs, each bound to one environment; only the SHA-256 of a
# token is kept, so a copy of the database reads no flags.
flag_tokens = Table(
    "flag_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project", String(PROJECT_NAME_MAX_LENGTH), nullable=False),
    Column("environment", String(ENVIRONMENT_NAME_MAX_LENGTH), nullable=False),
    Column("name", Text, nullable=False),
    # Hex SHA-256 of the token.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    sqlite_autoincrement=True,
)
Index("ix_flag_tokens_project_environment", flag_tokens.c.project, flag_tokens.c.environment)

# The experiments' units: the first variant each unit (targeting key) was served, and
# the first and last time each unit tracked an event.
flag_exposures = Table(
    "flag_exposures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project", String(PROJECT_NAME_MAX_LENGTH), nullable=False),
    Column("environment", String(ENVIRONMENT_NAME_MAX_LENGTH), nullable=False),
    Column("flag", Text, nullable=False),
    Column("variant", Text, nullable=False),
    Column("unit", Text, nullable=False),
    Column("first_at", UTCDateTime, nullable=False),
    UniqueConstraint("project", "environment", "flag", "unit"),
)
flag_conversions = Table(
    "flag_conversions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project", String(PROJECT_NAME_MAX_LENGTH), nullable=False),
    Column("environment", String(ENVIRONMENT_NAME_MAX_LENGTH), nullable=False),
    Column("event", Text, nullable=False),
    Column("unit", Text, nullable=False),
    Column("first_at", UTCDateTime, nullable=False),
    # So that an event tracked again after a later exposure still counts as a conversion.
    Column("last_at", UTCDateTime, nullable=False),
    UniqueConstraint("project", "environment", "event", "unit"),
)

# The SDK processes that reported in: the flag-set version each serves (fleet
# convergence) and the guards each has tripped locally.
flag_clients = Table(
    "flag_clients",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project", String(PROJECT_NAME_MAX_LENGTH), nullable=False),
    Column("environment", String(ENVIRONMENT_NAME_MAX_LENGTH), nullable=False),
    Column("client", String(200), nullable=False),
    Column("applied", Integer, nullable=True),
    # "flag#index" of each dependency guard the client reports tripped.
    Column("tripped", JSON, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    UniqueConstraint("project", "environment", "client"),
)

# -- people: users, their API tokens and roles, freeze windows, the audit trail ----------

USER_NAME_MAX_LENGTH = 64

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(USER_NAME_MAX_LENGTH), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", Text, nullable=False),
    sqlite_autoincrement=True,
)

# A role per user and project; project "*" is every project.
grants = Table(
    "grants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user", String(USER_NAME_MAX_LENGTH), nullable=False),
    Column("project", String(PROJECT_NAME_MAX_LENGTH), nullable=False),
    Column("role", String(16), nullable=False),
    UniqueConstraint("user", "project"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user", String(USER_NAME_MAX_LENGTH), nullable=False, index=True),
    Column("name", Text, nullable=False),
    # Hex SHA-256 of the token; the token itself is shown once and never stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    sqlite_autoincrement=True,
)

freezes = Table(
    "freezes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project", String(PROJECT_NAME_MAX_LENGTH), nullable=False),
    Column("environment", String(ENVIRONMENT_NAME_MAX_LENGTH), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("lifted_at", UTCDateTime, nullable=True),
    sqlite_autoincrement=True,
)
Index("ix_freezes_project_environment", freezes.c.project, freezes.c.environment)

# Append-only: each entry carries the hash of the one before it.
audit_entries = Table(
    "audit_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("previous_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
