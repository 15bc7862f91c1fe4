"""Client tokens of the flag SDKs: the ``FlagTokenRecord`` value and the
``FlagTokenRepository`` over them.

The server's flag service makes a token, hands it out once, and stores only its SHA-256
here; an SDK request is matched by the hash of the token it presents. A revoked token
keeps its row (the list shows when it was revoked) and matches nothing.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update

from andon.errors import NotFoundError
from andon.store._repository import Repository, aware_utc, iso_utc, iso_utc_or_none
from andon.store._tables import flag_tokens


@dataclass(frozen=True, slots=True)
class FlagTokenRecord:
    """A client token as stored: never the token itself."""

    id: int
    project: str
    environment: str
    name: str
    token_hash: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        """Whether the token was revoked."""
        return self.revoked_at is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values, without the hash; times as ISO 8601 in UTC with a ``Z``."""
        return {
            "id": self.id,
            "project": self.project,
            "environment": self.environment,
            "name": self.name,
            "created_at": iso_utc(self.created_at),
            "last_used_at": iso_utc_or_none(self.last_used_at),
            "revoked_at": iso_utc_or_none(self.revoked_at),
        }


class FlagTokenRepository(Repository):
    """Creates, finds, lists and revokes client tokens; reached as ``store.flag_tokens``."""

    def create(
        self, *, project: str, environment: str, name: str, token_hash: str
    ) -> FlagTokenRecord:
        """A new token of the environment, created now, known by its hash."""
        statement = (
            insert(flag_tokens)
            .values(
                project=project,
                environment=environment,
                name=name,
                token_hash=token_hash,
                created_at=self._now(),
            )
            .returning(*flag_tokens.c)
        )
        with self._transaction() as session:
            row = session.execute(statement).one()
        return _record(row)

    def find(self, token_hash: str) -> FlagTokenRecord | None:
        """The token whose hash is ``token_hash``, revoked or not; None if none is."""
        query = select(flag_tokens).where(flag_tokens.c.token_hash == token_hash)
        return self._fetch_first(query, _record)

    def list(self, project: str, environment: str) -> builtins.list[FlagTokenRecord]:
        """The environment's tokens, revoked ones too, oldest first."""
        query = (
            select(flag_tokens)
            .where(flag_tokens.c.project == project, flag_tokens.c.environment == environment)
            .order_by(flag_tokens.c.id)
        )
        return self._fetch_all(query, _record)

    def revoke(self, project: str, environment: str, token_id: int) -> FlagTokenRecord:
        """Revoke the token numbered ``token_id`` of the environment, now (a revoked one
        stays as it was); NotFoundError if the environment has no such token."""
        statement = (
            update(flag_tokens)
            .where(
                flag_tokens.c.id == token_id,
                flag_tokens.c.project == project,
                flag_tokens.c.environment == environment,
                flag_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=self._now())
            .returning(*flag_tokens.c)
        )
        with self._transaction() as session:
            row = session.execute(statement).one_or_none()
        if row is not None:
            return _record(row)
        for record in self.list(project, environment):
            if record.id == token_id:
                return record
        raise NotFoundError(
            f"environment {environment} of {project} has no flag token #{token_id}; "
            f"'andon flags token list --env {environment}' lists its tokens."
        )

    def touch(self, token_id: int, at: datetime) -> None:
        """Record that the token was used at ``at``."""
        statement = (
            update(flag_tokens)
            .where(flag_tokens.c.id == token_id)
            .values(last_used_at=aware_utc(at, "at"))
        )
        with self._transaction() as session:
            session.execute(statement)


def _record(row: Row[Any]) -> FlagTokenRecord:
    return FlagTokenRecord(**dict(row._mapping))
