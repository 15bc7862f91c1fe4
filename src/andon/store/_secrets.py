"""Secrets of environments, as ciphertext: the ``SecretRepository`` over them.

The environments engine encrypts each value before it calls ``store.secrets`` and decrypts
what it reads back; this repository never sees a value in clear and never logs one.
"""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from andon.errors import NotFoundError
from andon.store._repository import Repository
from andon.store._tables import secrets


class SecretRepository(Repository):
    """Keeps each environment's encrypted secrets by name; reached as ``store.secrets``."""

    def set(self, project: str, environment: str, name: str, ciphertext: str) -> None:
        """Store ``ciphertext`` as the secret ``name`` of ``project``/``environment``,
        replacing the one stored before under that name."""
        now = self._now()
        with self._transaction() as session:
            # An upsert rather than a read first: two `andon secret set` at once would
            # otherwise both find no row and one would fail on the unique constraint.
            insert = _insert(session).values(
                project=project,
                environment=environment,
                name=name,
                ciphertext=ciphertext,
                created_at=now,
                updated_at=now,
            )
            session.execute(
                insert.on_conflict_do_update(
                    index_elements=[secrets.c.project, secrets.c.environment, secrets.c.name],
                    set_={"ciphertext": insert.excluded.ciphertext, "updated_at": now},
                )
            )

    def get(self, project: str, environment: str, name: str) -> str:
        """The ciphertext of secret ``name``; NotFoundError if it is not set."""
        query = select(secrets.c.ciphertext).where(
            *_of(project, environment), secrets.c.name == name
        )
        with self._transaction() as session:
            ciphertext: str | None = session.scalars(query).first()
        if ciphertext is None:
            raise _not_found(project, environment, name)
        return ciphertext

    def names(self, project: str, environment: str) -> builtins.list[str]:
        """The names of the secrets set for ``project``/``environment``, sorted."""
        query = select(secrets.c.name).where(*_of(project, environment)).order_by(secrets.c.name)
        with self._transaction() as session:
            return builtins.list(session.scalars(query))

    def all(self, project: str, environment: str) -> dict[str, str]:
        """Every secret of ``project``/``environment``: ciphertext by name, sorted by name."""
        query = (
            select(secrets.c.name, secrets.c.ciphertext)
            .where(*_of(project, environment))
            .order_by(secrets.c.name)
        )
        with self._transaction() as session:
            return {name: ciphertext for name, ciphertext in session.execute(query)}

    def remove(self, project: str, environment: str, name: str) -> None:
        """Forget secret ``name``; NotFoundError if it is not set."""
        statement = (
            delete(secrets)
            .where(*_of(project, environment), secrets.c.name == name)
            .returning(secrets.c.id)
        )
        with self._transaction() as session:
            removed = session.execute(statement).first()
        if removed is None:
            raise _not_found(project, environment, name)


def _of(project: str, environment: str) -> tuple[Any, ...]:
    return (secrets.c.project == project, secrets.c.environment == environment)


def _insert(session: Session) -> postgresql.Insert | sqlite.Insert:
    # Both backends say ON CONFLICT DO UPDATE alike, but SQLAlchemy builds it per dialect.
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(secrets)
    return sqlite.insert(secrets)


def _not_found(project: str, environment: str, name: str) -> NotFoundError:
    return NotFoundError(
        f"secret {name} is not set for {project}/{environment}; 'andon secret set' sets it."
    )
