"""Fixtures for the environments engine: the example shop's andon.yaml, settings with a
private ANDON_HOME, and the PostgreSQL server at 127.0.0.1:5432 (or
ANDON_TEST_POSTGRES_URL), skipped with the reason when none answers."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from andon.settings import Settings
from andon.spec import AndonSpec, load_spec

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"
DEFAULT_POSTGRES_URL = "postgresql://root@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def shop_spec() -> AndonSpec:
    return load_spec(SHOP / "andon.yaml")


@pytest.fixture
def settings(andon_home: Path) -> Settings:
    """Settings read from an environment with nothing but ANDON_HOME."""
    return Settings.from_env({"ANDON_HOME": str(andon_home)})


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The URL of a PostgreSQL server Andon may create databases on."""
    url = os.environ.get("ANDON_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        with psycopg.connect(url, connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        pytest.skip(f"PostgreSQL not reachable at {url.split('@')[-1]}: {reason}")
    return url
