"""The database each environment gets of its own: a SQLite file under ``ANDON_HOME``, or a
PostgreSQL database on the server ``ANDON_POSTGRES_URL`` names.

Creating an environment calls :func:`provision_database` (idempotent: a redeploy finds the
same database, data kept) and gives the service the URL through ``database.url_env`` and
the template values; destroying it calls :func:`drop_database`. Neither ever puts a
password in an error message.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from andon.errors import ConfigurationError, TemporaryError, UsageError
from andon.settings import Settings
from andon.spec import AndonSpec, DatabaseEngine
from andon.store import redact_url

POSTGRES_NAME_MAX_LENGTH = 63
CONNECT_TIMEOUT_S = 10

# Project and environment names become one path segment each.
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_KEPT_IN_NAMES = re.compile(r"[a-z0-9]+")
_SUFFIX_LENGTH = 8
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
_POSTGRES_SCHEMES = {"postgresql", "postgres"}
# psycopg prefixes libpq's reason with where it tried; the place is said separately.
_LIBPQ_PREFIX = re.compile(r"^.*\bfailed:\s*")
_SEVERITY = re.compile(r"^(?:FATAL|ERROR):\s*")


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    """Where an environment's database is.

    ``url`` is what the service connects with and may hold the server's password; show
    :attr:`redacted_url` or :meth:`to_dict` instead.
    """

    engine: DatabaseEngine
    url: str
    path: Path | None = None
    """The SQLite file."""
    name: str | None = None
    """The PostgreSQL database's name."""

    @property
    def redacted_url(self) -> str:
        """``url`` with any password replaced by ``***``."""
        return redact_url(self.url)

    def environment(self, url_env: str) -> dict[str, str]:
        """The variables that tell an instance where its database is."""
        return {url_env: self.url}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values for the store and the API; the URL without its password."""
        return {
            "engine": self.engine.value,
            "url": self.redacted_url,
            "path": None if self.path is None else str(self.path),
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatabaseInfo:
        """The database :meth:`to_dict` described (with its URL redacted), e.g. to drop it."""
        path = data.get("path")
        return cls(
            engine=DatabaseEngine(data["engine"]),
            url=str(data["url"]),
            path=None if path is None else Path(path),
            name=data.get("name"),
        )


def provision_database(
    spec: AndonSpec, project: str, env: str, settings: Settings
) -> DatabaseInfo | None:
    """Make sure environment ``env`` of ``project`` has its database; None when andon.yaml
    declares none. Calling it again finds the same database, with its data.

    SQLite: an empty file ``ANDON_HOME/environments/<project>/<env>/data/<service>.db``.
    PostgreSQL: the database :func:`database_name` on the server at ``ANDON_POSTGRES_URL``.
    ConfigurationError when that is unset or refuses, TemporaryError when it is unreachable.
    """
    if spec.database is None:
        return None
    if spec.database.engine is DatabaseEngine.SQLITE:
        path = sqlite_path(spec, project, env, settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created empty (SQLite reads an empty file as an empty database) and private:
        # environments' data is nobody else's business on a shared host.
        path.touch(mode=0o600, exist_ok=True)
        return DatabaseInfo(engine=DatabaseEngine.SQLITE, url=f"sqlite:///{path}", path=path)
    name = database_name(project, env)
    server = _server_url(settings)
    with _connected(server) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        # DuplicateDatabase: another deploy of the same environment created it in between.
        if exists is None:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return DatabaseInfo(engine=DatabaseEngine.POSTGRES, url=_with_database(server, name), name=name)


def database_info(
    spec: AndonSpec, project: str, env: str, settings: Settings
) -> DatabaseInfo | None:
    """Where :func:`provision_database` keeps the database of environment ``env`` of
    ``project``, found without touching it; None when andon.yaml declares none."""
    if spec.database is None:
        return None
    if spec.database.engine is DatabaseEngine.SQLITE:
        path = sqlite_path(spec, project, env, settings)
        return DatabaseInfo(engine=DatabaseEngine.SQLITE, url=f"sqlite:///{path}", path=path)
    name = database_name(project, env)
    url = _with_database(_server_url(settings), name)
    return DatabaseInfo(engine=DatabaseEngine.POSTGRES, url=url, name=name)


def drop_database(info: DatabaseInfo, settings: Settings) -> None:
    """Remove the database ``info`` describes, with its data; nothing happens if it is gone.

    A PostgreSQL database is dropped even while instances are still connected to it.
    """
    if info.engine is DatabaseEngine.SQLITE:
        if info.path is None:
            raise UsageError("a SQLite database to drop needs its path; none was given.")
        for file in [info.path, *(Path(f"{info.path}{suffix}") for suffix in _SQLITE_COMPANIONS)]:
            file.unlink(missing_ok=True)
        return
    if info.name is None:
        raise UsageError("a PostgreSQL database to drop needs its name; none was given.")
    with _connected(_server_url(settings)) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(info.name))
        )


def sqlite_path(spec: AndonSpec, project: str, env: str, settings: Settings) -> Path:
    """Where the SQLite database of environment ``env`` of ``project`` lives."""
    directory = environment_dir(settings, project, env) / "data"
    return directory / f"{_segment(spec.service.name)}.db"


def environment_dir(settings: Settings, project: str, env: str) -> Path:
    """The directory of environment ``env`` of ``project``: its releases, its SQLite data
    and the logs of its commands, ``ANDON_HOME/environments/<project>/<env>``."""
    return settings.environments_dir / _segment(project) / _segment(env)


def database_name(project: str, env: str) -> str:
    """The PostgreSQL database of environment ``env`` of ``project``: ``andon_<project>_<env>``.

    Only lower-case letters and digits are kept as they are; anything else becomes ``_``
    and then, since ``a-b``/``c`` and ``a``/``b-c`` would both read ``andon_a_b_c``, a
    hash of the exact names is appended. So is it when the name would pass PostgreSQL's
    63 characters, which then cuts it.
    """
    plain = f"andon_{project}_{env}"
    kept = f"andon_{_sanitised(project)}_{_sanitised(env)}"
    if kept == plain and len(kept) <= POSTGRES_NAME_MAX_LENGTH:
        return kept
    suffix = hashlib.sha256(f"{project}\0{env}".encode()).hexdigest()[:_SUFFIX_LENGTH]
    return f"{kept[: POSTGRES_NAME_MAX_LENGTH - _SUFFIX_LENGTH - 1]}_{suffix}"


def _sanitised(name: str) -> str:
    return "_".join(_KEPT_IN_NAMES.findall(name.lower())) or "_"


def _segment(name: str) -> str:
    if not _SEGMENT.fullmatch(name) or ".." in name:
        raise UsageError(
            f"'{name}' cannot name a directory; use letters, digits, '.', '_' and '-'."
        )
    return name


def _server_url(settings: Settings) -> str:
    """``ANDON_POSTGRES_URL`` as a libpq URI; ConfigurationError when unset or not one."""
    if not settings.postgres_url:
        raise ConfigurationError(
            "andon.yaml asks for a PostgreSQL database (database.engine: postgres) but "
            "ANDON_POSTGRES_URL is not set; set it to a server on which Andon may create "
            "databases, e.g. postgresql://USER@HOST:5432/postgres."
        )
    parts = urlsplit(settings.postgres_url)
    # "postgresql+psycopg://" is how ANDON_DATABASE_URL spells it; libpq knows no driver.
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in _POSTGRES_SCHEMES or not settings.postgres_url.startswith(
        f"{parts.scheme}://"
    ):
        raise ConfigurationError(
            f"ANDON_POSTGRES_URL='{redact_url(settings.postgres_url)}' is not a PostgreSQL "
            "URL; set it to postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE."
        )
    return _joined(parts._replace(scheme="postgresql"))


def _with_database(server: str, name: str) -> str:
    return _joined(urlsplit(server)._replace(path=f"/{name}"))


def _joined(parts: SplitResult) -> str:
    # urlunsplit drops the "//" of a URL without a host (a Unix socket given as ?host=...),
    # which libpq would then not read as a URI.
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"{parts.scheme}://{parts.netloc}{parts.path}{query}{fragment}"


@contextmanager
def _connected(server: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the server (CREATE and DROP DATABASE refuse to run in a
    transaction), its failures translated into one-line errors with no password."""
    try:
        params = conninfo_to_dict(server)
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(
            f"ANDON_POSTGRES_URL='{redact_url(server)}' cannot be read; set it to "
            "postgresql://USER[:PASSWORD]@HOST:PORT/DATABASE."
        ) from exc
    where = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"
    password = params.get("password")
    try:
        with psycopg.connect(server, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            yield conn
    except psycopg.OperationalError as exc:
        raise TemporaryError(
            f"cannot reach the PostgreSQL server for environment databases at {where} "
            f"({_reason(exc, password)}); check ANDON_POSTGRES_URL and that the server is "
            "running.",
            delay=5.0,
        ) from exc
    except psycopg.Error as exc:
        raise ConfigurationError(
            f"the PostgreSQL server at {where} refused to create or drop an environment's "
            f"database ({_reason(exc, password)}); let the role in ANDON_POSTGRES_URL create "
            "databases (CREATEDB) or name another role."
        ) from exc


def _reason(exc: psycopg.Error, password: object) -> str:
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    reason = _SEVERITY.sub("", _LIBPQ_PREFIX.sub("", lines[0].strip())).rstrip(".")
    if isinstance(password, str) and password:
        reason = reason.replace(password, "***")
    return reason or type(exc).__name__
