"""HMAC signatures of webhook bodies, in GitHub's form (``sha256=<hex>``): checked on
incoming push events, and used for outgoing webhooks. One mechanism for both."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    """The ``sha256=<hex>`` signature of ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_matches(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` signs ``body`` with ``secret`` (in constant time)."""
    if not signature:
        return False
    # As bytes: compare_digest refuses str with non-ASCII characters, which a header may hold.
    expected = sign(secret, body).encode("ascii")
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "surrogateescape"))


def token_matches(secret: str, token: str | None) -> bool:
    """Whether a plain shared token (GitLab's ``X-Gitlab-Token``) equals ``secret``."""
    return token is not None and hmac.compare_digest(secret.encode(), token.encode())
