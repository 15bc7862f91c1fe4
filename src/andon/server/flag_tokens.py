"""Client tokens of the flag SDKs: made, shown once, kept as their SHA-256, and checked
on every SDK, stream and OFREP request.

The flag API creates, lists and revokes tokens through :class:`FlagTokens`; the SDK and
OFREP routes call :meth:`FlagTokens.authenticate` with the request's headers. A token is
never written to a log or put in an error message: refusals say what to do, not what
was sent.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from andon.errors import PermanentError, UsageError
from andon.store import FlagTokenRecord, Store

TOKEN_PREFIX = "andon_fc_"
TOUCH_INTERVAL_S = 60.0
"""A token's ``last_used_at`` is written at most this often: not a write per request."""


class TokenRefusedError(PermanentError):
    """A request to the SDK endpoints without a valid client token."""

    http_status = 401
    code = "unauthorized"


class TokenScopeError(PermanentError):
    """A valid client token used for another environment than its own."""

    http_status = 403
    code = "forbidden"


def token_hash(token: str) -> str:
    """The hex SHA-256 of ``token``, as the store keeps it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def presented_token(headers: Mapping[str, str]) -> str | None:
    """The token of ``Authorization: Bearer …`` (or OFREP's ``X-API-Key``), if any."""
    authorization = headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    api_key = headers.get("x-api-key", "").strip()
    return api_key or None


class FlagTokens:
    """Makes and checks the client tokens of every environment."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock
        self._touched: dict[int, float] = {}
        self._lock = threading.Lock()

    def create(self, project: str, environment: str, name: str) -> tuple[FlagTokenRecord, str]:
        """A new token of the environment: its record and the token, which is not kept."""
        name = name.strip() or f"token for {environment}"
        if len(name) > 200:
            raise UsageError("a token's name is 200 characters at most; choose a shorter one.")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = self.store.flag_tokens.create(
            project=project, environment=environment, name=name, token_hash=token_hash(token)
        )
        return record, token

    def authenticate(
        self, headers: Mapping[str, str], environment: str | None = None
    ) -> FlagTokenRecord:
        """The live token the request presents; TokenRefusedError without one, and
        TokenScopeError when ``environment`` is given and is not the token's."""
        token = presented_token(headers)
        if token is None:
            raise TokenRefusedError(
                "this endpoint needs a flag client token in 'Authorization: Bearer <token>'; "
                "create one with 'andon flags token create --env ENV'."
            )
        record = self.store.flag_tokens.find(token_hash(token))
        if record is None or record.revoked:
            raise TokenRefusedError(
                "the flag client token is unknown or revoked; create a new one with "
                "'andon flags token create --env ENV' and give it to the SDK."
            )
        if environment is not None and environment != record.environment:
            raise TokenScopeError(
                f"this flag client token reads environment {record.environment} only, not "
                f"{environment}; use a token of {environment}."
            )
        self._touch(record)
        return record

    def _touch(self, record: FlagTokenRecord) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._touched.get(record.id)
            if last is not None and now - last < TOUCH_INTERVAL_S:
                return
            self._touched[record.id] = now
        self.store.flag_tokens.touch(record.id, self.clock())
