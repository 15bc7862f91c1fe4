"""The ``Store``: one database, migrated and ready, with its repositories.

The server and the CLI's local commands call :func:`open_store` once with
``ANDON_DATABASE_URL`` and keep the store until shutdown.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from andon.store._artifacts import ArtifactRepository
from andon.store._audit import AuditRepository
from andon.store._deploy_events import DeployEventRepository
from andon.store._engine import Dialect, create_store_engine, dialect_of
from andon.store._environments import EnvironmentRepository
from andon.store._failures import reporting_unavailability, unavailable
from andon.store._flag_events import FlagEventRepository
from andon.store._flag_tokens import FlagTokenRepository
from andon.store._flags import FlagSetRepository
from andon.store._flaky import FlakyTestRepository
from andon.store._freezes import FreezeRepository
from andon.store._jobs import JobRepository
from andon.store._line import LineEventRepository
from andon.store._migrating import current_revision, upgrade_to_head
from andon.store._people import ApiTokenRepository, UserRepository
from andon.store._pipelines import PipelineRepository
from andon.store._projects import ProjectRepository
from andon.store._repository import Clock
from andon.store._rollouts import RolloutRepository
from andon.store._secrets import SecretRepository
from andon.store._urls import parse_url, redact_url


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Store:
    """A migrated database and the repositories over it; close it when done."""

    def __init__(self, engine: Engine, *, clock: Clock = _utc_now) -> None:
        self.engine = engine
        self.url: str = redact_url(engine.url)
        self.dialect: Dialect = dialect_of(engine)
        # expire_on_commit off: repositories return plain records, never live ORM objects.
        sessions = sessionmaker(engine, expire_on_commit=False)
        self.projects = ProjectRepository(sessions, engine.url, clock)
        self.pipelines = PipelineRepository(sessions, engine.url, clock)
        self.jobs = JobRepository(sessions, engine.url, clock)
        self.artifacts = ArtifactRepository(sessions, engine.url, clock)
        self.line = LineEventRepository(sessions, engine.url, clock)
        self.flaky = FlakyTestRepository(sessions, engine.url, clock)
        self.environments = EnvironmentRepository(sessions, engine.url, clock)
        self.secrets = SecretRepository(sessions, engine.url, clock)
        self.rollouts = RolloutRepository(sessions, engine.url, clock)
        self.deploy_events = DeployEventRepository(sessions, engine.url, clock)
        self.flags = FlagSetRepository(sessions, engine.url, clock)
        self.flag_tokens = FlagTokenRepository(sessions, engine.url, clock)
        self.flag_events = FlagEventRepository(sessions, engine.url, clock)
        self.users = UserRepository(sessions, engine.url, clock)
        self.api_tokens = ApiTokenRepository(sessions, engine.url, clock)
        self.freezes = FreezeRepository(sessions, engine.url, clock)
        self.audit = AuditRepository(sessions, engine.url, clock)

    def schema_revision(self) -> str:
        """The Alembic revision the database is at."""
        with reporting_unavailability(self.engine.url):
            revision = current_revision(self.engine)
        if revision is None:
            raise unavailable(self.engine.url, "no schema revision is recorded in it")
        return revision

    def close(self) -> None:
        """Close every pooled connection; the store must not be used afterwards."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"


def open_store(url: str, *, clock: Clock | None = None) -> Store:
    """Connect to the database at ``url`` and migrate it to the newest schema.

    ``url`` is ``sqlite:///relative/path``, ``sqlite:////absolute/path`` or
    ``postgresql+psycopg://USER[:PASSWORD]@HOST:PORT/DATABASE``. Opening the same database
    again, or from several processes at once, is safe. ``clock`` stamps the times the store
    records itself, such as ``created_at`` (default: the system clock, in UTC).

    Raises StoreUnavailableError when the database cannot be reached or opened, and
    ConfigurationError when the URL names no supported database.
    """
    engine = create_store_engine(parse_url(url))
    try:
        with reporting_unavailability(engine.url):
            upgrade_to_head(engine)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, clock=clock or _utc_now)
