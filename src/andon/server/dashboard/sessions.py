"""The dashboard's sign-in sessions, kept in the server's memory.

Signing in with an API token makes a session: a random id (the only thing the browser
holds, in an HttpOnly, SameSite=Strict cookie), the SHA-256 of the token (never the
token), the user's name, and a CSRF token that every form and htmx request sends back.
Each request looks the token up again (:func:`principal_for`), so that a revoked or
expired token, or a removed user, ends the session at once. Sessions end after
:data:`SESSION_LIFETIME`, at sign-out, and when the server restarts (they are not
stored: signing in again is cheap, and a stolen database holds none).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from andon.errors import UnauthenticatedError
from andon.server.access import Principal
from andon.store import Store

SESSION_COOKIE = "andon_session"
SESSION_LIFETIME = 12 * 3600.0
"""Seconds a session lasts from sign-in."""

_MAX_SESSIONS = 10_000
_MAX_FLASHES = 5


@dataclass
class Session:
    """One signed-in browser."""

    id: str
    token_hash: str
    user: str
    csrf: str
    expires: float
    """time.monotonic() at which it ends."""
    flashes: list[tuple[str, str]] = field(default_factory=list)
    """(kind, sentence) to show once on the next page: what an action did."""

    def flash(self, kind: str, message: str) -> None:
        self.flashes = [*self.flashes, (kind, message)][-_MAX_FLASHES:]

    def take_flashes(self) -> list[tuple[str, str]]:
        shown, self.flashes = self.flashes, []
        return shown


class Sessions:
    """The sessions of this server process; safe to use from any thread."""

    def __init__(self, *, lifetime: float = SESSION_LIFETIME) -> None:
        self.lifetime = lifetime
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, token_hash: str, user: str) -> Session:
        """A new session (a new id: a session id known before sign-in is never reused)."""
        now = time.monotonic()
        session = Session(
            id=secrets.token_urlsafe(32),
            token_hash=token_hash,
            user=user,
            csrf=secrets.token_urlsafe(32),
            expires=now + self.lifetime,
        )
        with self._lock:
            self._prune(now)
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of that id, or None."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires <= time.monotonic():
                del self._sessions[session_id]
                return None
            return session

    def end(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def _prune(self, now: float) -> None:
        expired = [key for key, session in self._sessions.items() if session.expires <= now]
        for key in expired:
            del self._sessions[key]
        # A flood of sign-ins must not grow memory without bound: the oldest go first.
        while len(self._sessions) >= _MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]


def principal_for(store: Store, token_hash: str) -> Principal:
    """The user a session's token speaks for now; UnauthenticatedError when the token was
    revoked, has expired or its user was removed (the session is then over)."""
    record = store.api_tokens.find(token_hash)
    if record is None:
        raise UnauthenticatedError("this session's API token is no longer known; sign in again.")
    state = record.state(datetime.now(UTC))
    if state != "active":
        raise UnauthenticatedError(
            f"this session's API token #{record.id} ({record.name}) is {state}; sign in again "
            "with another."
        )
    user = store.users.find(record.user)
    if user is None:
        raise UnauthenticatedError(f"user {record.user} no longer exists; sign in again.")
    return Principal(user, record)
