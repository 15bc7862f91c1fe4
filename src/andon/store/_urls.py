"""Database URLs as Andon reads them: parsing, redaction, and where a URL points.

Used by the engine factory to parse ``ANDON_DATABASE_URL`` and by every error message and
``Store.url``, so that a password never reaches a log line or a terminal.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from andon.errors import ConfigurationError

MASK = "***"

# Query parameters that libpq (and so psycopg) accepts as credentials.
_SECRET_QUERY_KEYS = frozenset({"password", "passfile", "sslpassword"})

# Used only when SQLAlchemy cannot parse the URL: hide whatever sits between
# "scheme://user:" and the last "@" before the path.
_USERINFO_PASSWORD = re.compile(r"(://[^/@:]*:)[^/]*@")

_IN_MEMORY_DATABASES = frozenset({"", ":memory:"})

_DEFAULT_PORTS = {"postgresql": 5432}


def parse_url(url: str) -> URL:
    """Parse ``url`` or raise ConfigurationError naming it (redacted)."""
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(
            f"'{redact_url(url)}' is not a database URL; set ANDON_DATABASE_URL to "
            "sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DATABASE."
        ) from exc


def redact_url(url: str | URL) -> str:
    """Return ``url`` as text with any password replaced by ``***``."""
    if isinstance(url, str):
        try:
            parsed = make_url(url)
        except ArgumentError:
            return _USERINFO_PASSWORD.sub(rf"\1{MASK}@", url)
    else:
        parsed = url
    secret_keys = _SECRET_QUERY_KEYS.intersection(parsed.query)
    if secret_keys:
        parsed = parsed.update_query_dict({key: MASK for key in secret_keys})
    rendered = parsed.render_as_string(hide_password=True)
    # The query is percent-encoded when rendered; show the mask as the mask.
    return rendered.replace(quote(MASK), MASK)


def is_in_memory_sqlite(url: URL) -> bool:
    """True for ``sqlite://`` and ``sqlite:///:memory:``, which have no file."""
    return url.get_backend_name() == "sqlite" and (url.database or "") in _IN_MEMORY_DATABASES


def sqlite_path(url: URL) -> Path | None:
    """The file a SQLite URL names, or None when it names no plain file path."""
    database = url.database or ""
    # SQLite URI filenames ("file:...?uri=true") carry their own syntax; leave them alone.
    if is_in_memory_sqlite(url) or url.query.get("uri") == "true" or database.startswith("file:"):
        return None
    return Path(database)


def with_absolute_sqlite_path(url: URL) -> URL:
    """Pin a relative SQLite path to the current directory, once, at open time.

    ``sqlite:///andon.db`` is relative and ``sqlite:////var/lib/andon.db`` absolute; a
    relative path would otherwise be resolved again by every new pooled connection, so a
    later ``chdir`` would silently open a second, empty database.
    """
    path = sqlite_path(url)
    if path is None:
        return url
    return url.set(database=str(path.expanduser().absolute()))


def describe_location(url: URL) -> str:
    """Where ``url`` points, for a sentence: ``host:port`` or the SQLite file path."""
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is None:
            return "an in-memory SQLite database" if is_in_memory_sqlite(url) else str(url)
        return str(path)
    host = url.host or _query_value(url, "host") or "localhost"
    port = url.port or _query_value(url, "port") or _DEFAULT_PORTS.get(url.get_backend_name())
    return f"{host}:{port}" if port else host


def _query_value(url: URL, key: str) -> str | None:
    value = url.query.get(key)
    if isinstance(value, tuple):
        return value[0] if value else None
    return value
