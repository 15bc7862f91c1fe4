"""People and what they may do: users, their roles per project (``grants``) and their API
tokens — the ``UserRepository`` and ``ApiTokenRepository``.

A token is made by the server, shown once, and stored only as its SHA-256; a request is
matched by the hash of the token it presents. Tokens are long random strings, so a plain
hash suffices (no password stretching). A revoked or expired token keeps its row and
matches nothing.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from andon.errors import ConflictError, NotFoundError
from andon.store._repository import Repository, aware_utc, iso_utc, iso_utc_or_none
from andon.store._tables import api_tokens, grants, users

EVERY_PROJECT = "*"
"""The project of a grant that holds for every project."""


class Role(StrEnum):
    """What a user may do in a project; each role may do what the ones before it may."""

    VIEWER = "viewer"
    DEPLOYER = "deployer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user and their roles by project (``*``: every project)."""

    id: int
    name: str
    created_at: datetime
    created_by: str
    roles: dict[str, Role] = field(default_factory=dict)

    def role_in(self, project: str | None) -> Role | None:
        """The user's role in ``project`` (None: a route of no one project, which only a
        role on every project covers); None when they have none there."""
        found = [self.roles[EVERY_PROJECT]] if EVERY_PROJECT in self.roles else []
        if project is not None and project in self.roles:
            found.append(self.roles[project])
        return max(found, key=lambda role: role.rank) if found else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created_at": iso_utc(self.created_at),
            "created_by": self.created_by,
            "roles": {project: role.value for project, role in sorted(self.roles.items())},
        }


@dataclass(frozen=True, slots=True)
class ApiTokenRecord:
    """An API token as stored: never the token itself."""

    id: int
    user: str
    name: str
    token_hash: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_dict(self, now: datetime) -> dict[str, Any]:
        """JSON-able values, without the hash."""
        return {
            "id": self.id,
            "user": self.user,
            "name": self.name,
            "state": self.state(now),
            "created_at": iso_utc(self.created_at),
            "expires_at": iso_utc_or_none(self.expires_at),
            "last_used_at": iso_utc_or_none(self.last_used_at),
            "revoked_at": iso_utc_or_none(self.revoked_at),
        }


class UserRepository(Repository):
    """Creates, finds and lists users and sets their roles; reached as ``store.users``."""

    def create(self, name: str, *, by: str) -> UserRecord:
        """A new user with no role yet; ConflictError if the name is taken."""
        statement = insert(users).values(name=name, created_at=self._now(), created_by=by)
        try:
            with self._transaction() as session:
                session.execute(statement)
        except IntegrityError:
            raise ConflictError(
                f"user {name} exists already; 'andon user list' lists them."
            ) from None
        return self.get(name)

    def find(self, name: str) -> UserRecord | None:
        """The user named ``name`` with their roles, or None."""
        with self._transaction() as session:
            row = session.execute(select(users).where(users.c.name == name)).first()
            if row is None:
                return None
            held = session.execute(
                select(grants.c.project, grants.c.role).where(grants.c.user == name)
            ).all()
        return UserRecord(**dict(row._mapping), roles={p: Role(r) for p, r in held})

    def get(self, name: str) -> UserRecord:
        """The user named ``name``; NotFoundError if there is none."""
        found = self.find(name)
        if found is None:
            raise NotFoundError(f"there is no user {name}; 'andon user list' lists them.")
        return found

    def list(self) -> builtins.list[UserRecord]:
        """Every user with their roles, by name."""
        with self._transaction() as session:
            rows = session.execute(select(users).order_by(users.c.name)).all()
            held = session.execute(select(grants.c.user, grants.c.project, grants.c.role)).all()
        roles: dict[str, dict[str, Role]] = {}
        for user, project, role in held:
            roles.setdefault(user, {})[project] = Role(role)
        return [UserRecord(**dict(r._mapping), roles=roles.get(r.name, {})) for r in rows]

    def count(self) -> int:
        with self._transaction() as session:
            return int(session.execute(select(func.count()).select_from(users)).scalar_one())

    def set_role(self, name: str, project: str, role: Role | None) -> UserRecord:
        """Give ``name`` ``role`` in ``project`` (``*``: every project), or take their role
        there away (None); NotFoundError if there is no such user."""
        self.get(name)
        with self._transaction() as session:
            session.execute(
                delete(grants).where(grants.c.user == name, grants.c.project == project)
            )
            if role is not None:
                session.execute(
                    insert(grants).values(user=name, project=project, role=Role(role).value)
                )
        return self.get(name)


class ApiTokenRepository(Repository):
    """Creates, finds, lists and revokes API tokens; reached as ``store.api_tokens``."""

    def create(
        self, *, user: str, name: str, token_hash: str, expires_at: datetime | None = None
    ) -> ApiTokenRecord:
        """A new token of ``user``, known by its hash."""
        statement = (
            insert(api_tokens)
            .values(
                user=user,
                name=name,
                token_hash=token_hash,
                created_at=self._now(),
                expires_at=None if expires_at is None else aware_utc(expires_at, "expires_at"),
            )
            .returning(*api_tokens.c)
        )
        with self._transaction() as session:
            row = session.execute(statement).one()
        return _token(row)

    def find(self, token_hash: str) -> ApiTokenRecord | None:
        """The token whose hash is ``token_hash`` (whatever its state), or None."""
        return self._fetch_first(
            select(api_tokens).where(api_tokens.c.token_hash == token_hash), _token
        )

    def get(self, token_id: int) -> ApiTokenRecord:
        found = self._fetch_first(select(api_tokens).where(api_tokens.c.id == token_id), _token)
        if found is None:
            raise NotFoundError(
                f"there is no API token #{token_id}; 'andon token list' lists them."
            )
        return found

    def list(self, user: str | None = None) -> builtins.list[ApiTokenRecord]:
        """Every token (of ``user``), oldest first."""
        query = select(api_tokens).order_by(api_tokens.c.id)
        if user is not None:
            query = query.where(api_tokens.c.user == user)
        return self._fetch_all(query, _token)

    def revoke(self, token_id: int) -> ApiTokenRecord:
        """Revoke token ``token_id`` now (a revoked one stays as it was)."""
        with self._transaction() as session:
            session.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=self._now())
            )
        return self.get(token_id)

    def touch(self, token_id: int, at: datetime) -> None:
        """Record that the token was used at ``at``."""
        with self._transaction() as session:
            session.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id)
                .values(last_used_at=aware_utc(at, "at"))
            )


def _token(row: Row[Any]) -> ApiTokenRecord:
    return ApiTokenRecord(**dict(row._mapping))
