"""The TTL reaper's decision, driven by golden cases in ``expiry_cases/*.json``: the
environments, the time, and the names to destroy."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from andon.environments import decide_expired
from andon.store import EnvironmentKind, EnvironmentRecord, EnvironmentStatus

CASES = sorted((Path(__file__).parent / "expiry_cases").glob("*.json"))


@dataclass(frozen=True)
class Environment:
    name: str
    status: str
    expires_at: datetime | None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@pytest.mark.parametrize("path", CASES, ids=lambda path: path.stem)
def test_expiry_case(path: Path) -> None:
    case = json.loads(path.read_text())
    environments = [
        Environment(e["name"], e["status"], _time(e["expires_at"])) for e in case["environments"]
    ]
    now = _time(case["now"])
    assert now is not None

    assert decide_expired(environments, now) == case["expect"]


def test_store_records_can_be_decided_on() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    record = EnvironmentRecord(
        id=1, project="shop", name="pr-1", kind=EnvironmentKind.EPHEMERAL,
        status=EnvironmentStatus.READY, artifact=None, version=None, url=None, router_port=None,
        created_at=now - timedelta(hours=2), updated_at=now, expires_at=now - timedelta(seconds=1),
        copied_from="staging", config_checksums={}, database=None, drift=None,
        drift_checked_at=None, message="",
    )  # fmt: skip

    assert decide_expired([record], now) == ["pr-1"]
    assert decide_expired([replace(record, status=EnvironmentStatus.DESTROYED)], now) == []
