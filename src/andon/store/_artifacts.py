"""Built artifacts: the ``ArtifactRecord`` value and the ``ArtifactRepository`` over them.

The packaging step adds each artifact it builds through ``store.artifacts``; promotions and
the CLI find one by its digest, or by the first few hex digits of it.
"""

from __future__ import annotations

import builtins
import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from andon.errors import NotFoundError, UsageError
from andon.store._repository import Repository, check_limit, iso_utc
from andon.store._tables import artifacts

DIGEST_PREFIX = "sha256:"
MIN_DIGEST_PREFIX_LENGTH = 7
_HEX_DIGITS = 64
_DIGEST = re.compile(rf"{DIGEST_PREFIX}[0-9a-f]{{{_HEX_DIGITS}}}")
_HEX = re.compile(r"[0-9a-f]+")
_AMBIGUOUS_SHOWN = 3


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    """One built artifact, as stored: what it was built from and where its file is."""

    digest: str
    project: str
    commit: str
    tree: str
    pipeline_id: int | None
    size: int
    path: str
    manifest: dict[str, Any]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; datetimes as ISO 8601 in UTC with a ``Z``."""
        return {
            "digest": self.digest,
            "project": self.project,
            "commit": self.commit,
            "tree": self.tree,
            "pipeline_id": self.pipeline_id,
            "size": self.size,
            "path": self.path,
            # A copy, so that a caller editing the result cannot change this record.
            "manifest": copy.deepcopy(self.manifest),
            "created_at": iso_utc(self.created_at),
        }


class ArtifactRepository(Repository):
    """Adds and finds artifacts by digest; reached as ``store.artifacts``."""

    def add(
        self,
        *,
        digest: str,
        project: str,
        commit: str,
        tree: str,
        size: int,
        path: str,
        manifest: Mapping[str, Any],
        pipeline_id: int | None = None,
    ) -> ArtifactRecord:
        """Record an artifact, created now; if its digest is known already, the record
        stored first is returned unchanged, since the same digest means the same contents."""
        if not _DIGEST.fullmatch(digest):
            raise UsageError(
                f"'{digest}' is not an artifact digest; it is '{DIGEST_PREFIX}' and "
                f"{_HEX_DIGITS} lowercase hex digits."
            )
        values = {
            "digest": digest,
            "project": project,
            "commit": commit,
            "tree": tree,
            "pipeline_id": pipeline_id,
            "size": size,
            "path": path,
            "manifest": dict(manifest),
            "created_at": self._now(),
        }
        with self._transaction() as session:
            # ON CONFLICT DO NOTHING rather than a SELECT first: two builds of the same
            # contents finishing together would both pass a check and one would then fail.
            statement = (
                _insert_ignoring_conflicts(session)
                .values(**values)
                .on_conflict_do_nothing(index_elements=[artifacts.c.digest])
                .returning(*artifacts.c)
            )
            row = session.execute(statement).one_or_none()
            if row is None:
                row = session.execute(_by_digest(digest)).one()
        return _record(row)

    def get(self, digest: str) -> ArtifactRecord:
        """The artifact with ``digest``, given whole or as at least 7 leading hex digits with
        or without ``sha256:``; NotFoundError if none matches, UsageError if several do."""
        hex_digits = digest.strip().lower().removeprefix(DIGEST_PREFIX)
        if len(hex_digits) < MIN_DIGEST_PREFIX_LENGTH or not _HEX.fullmatch(hex_digits):
            raise UsageError(
                f"'{digest}' is not an artifact digest; give '{DIGEST_PREFIX}' and its hex "
                f"digits, or at least the first {MIN_DIGEST_PREFIX_LENGTH} of them."
            )
        whole = DIGEST_PREFIX + hex_digits
        if len(hex_digits) == _HEX_DIGITS:
            query = _by_digest(whole)
        else:
            # Hex digits hold no LIKE wildcards; one more row than shown tells "and more".
            query = (
                select(artifacts)
                .where(artifacts.c.digest.startswith(whole))
                .order_by(artifacts.c.digest)
                .limit(_AMBIGUOUS_SHOWN + 1)
            )
        matches = self._fetch_all(query, _record)
        if not matches:
            raise NotFoundError(
                f"no artifact with digest '{digest}'; 'andon artifact list' shows recent ones."
            )
        if len(matches) > 1:
            shown = ", ".join(match.digest for match in matches[:_AMBIGUOUS_SHOWN])
            more = " and more" if len(matches) > _AMBIGUOUS_SHOWN else ""
            raise UsageError(
                f"'{digest}' is the start of several artifact digests ({shown}{more}); "
                "give more of the digest."
            )
        return matches[0]

    def for_commit(self, project: str, commit: str) -> ArtifactRecord | None:
        """The newest artifact of ``project`` built from ``commit``, or None."""
        query = (
            select(artifacts)
            .where(artifacts.c.project == project, artifacts.c.commit == commit)
            .order_by(*_NEWEST_FIRST)
        )
        return self._fetch_first(query, _record)

    def list(self, project: str | None = None, limit: int = 50) -> builtins.list[ArtifactRecord]:
        """The newest ``limit`` artifacts, newest first, of one project or of all."""
        query = select(artifacts).order_by(*_NEWEST_FIRST).limit(check_limit(limit))
        if project is not None:
            query = query.where(artifacts.c.project == project)
        return self._fetch_all(query, _record)


# The digest only breaks ties between artifacts added at the same instant, so that both
# backends list them alike.
_NEWEST_FIRST = (artifacts.c.created_at.desc(), artifacts.c.digest)


def _insert_ignoring_conflicts(session: Session) -> postgresql.Insert | sqlite.Insert:
    # Both backends say ON CONFLICT DO NOTHING alike, but SQLAlchemy builds it per dialect.
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(artifacts)
    return sqlite.insert(artifacts)


def _by_digest(digest: str) -> Select[Any]:
    return select(artifacts).where(artifacts.c.digest == digest)


def _record(row: Row[Any]) -> ArtifactRecord:
    return ArtifactRecord(**row._mapping)
