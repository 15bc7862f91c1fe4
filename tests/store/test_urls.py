"""redact_url hides passwords in every form a database URL can carry one."""

from __future__ import annotations

import pytest

from andon.store import redact_url


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (
            "postgresql+psycopg://andon:s3cret@db.example.com:5432/andon",
            "postgresql+psycopg://andon:***@db.example.com:5432/andon",
        ),
        (
            "postgresql+psycopg://andon:p%40ss%2Fw0rd@db/andon",
            "postgresql+psycopg://andon:***@db/andon",
        ),
        (
            "postgresql+psycopg://andon@db/andon?password=s3cret&sslmode=require",
            "postgresql+psycopg://andon@db/andon?password=***&sslmode=require",
        ),
        ("postgresql+psycopg://andon@db/andon", "postgresql+psycopg://andon@db/andon"),
        ("sqlite:///relative/andon.db", "sqlite:///relative/andon.db"),
        ("sqlite:////var/lib/andon/andon.db", "sqlite:////var/lib/andon/andon.db"),
        ("weird//://andon:s3cret@host/db", "weird//://andon:***@host/db"),
    ],
)
def test_redaction_replaces_only_the_password(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted
