"""Golden cases for the version decision (``cases/choosing/*.json``): a config, then
requests (headers, client address, random draw) and the version each must get."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from andon.agent.router import RouterConfig
from andon.agent.router.choosing import cookie_value, decide_version, plan_split
from andon.agent.router.heads import request_head

CASES = sorted((Path(__file__).parent / "cases" / "choosing").glob("*.json"))


def _requests() -> list[Any]:
    found = []
    for path in CASES:
        case = json.loads(path.read_text())
        for number, request in enumerate(case["requests"]):
            found.append(pytest.param(case["config"], request, id=f"{path.stem}-{number}"))
    return found


@pytest.mark.parametrize(("config", "request_"), _requests())
def test_decide_version_matches_the_golden_cases(
    config: dict[str, Any], request_: dict[str, Any]
) -> None:
    plan = plan_split(RouterConfig.from_dict(config))
    headers = [(name.encode(), value.encode()) for name, value in request_["headers"].items()]
    client_ip = request_["client_ip"].encode()
    # The proxy's own head builder collects the watched headers, as on the request path.
    _, seen, _ = request_head(b"GET", b"/", headers, client_ip, plan.watched, upgrade=False)
    chosen = decide_version(plan, seen, client_ip, request_["draw"])
    assert chosen == request_["expected"], request_["why"]


def test_every_case_file_has_requests() -> None:
    assert len(CASES) >= 5
    assert all(json.loads(path.read_text())["requests"] for path in CASES)


@pytest.mark.parametrize(
    ("header", "name", "value"),
    [
        (b"uid=42", b"uid", b"42"),
        (b"a=1; uid=42; b=2", b"uid", b"42"),
        (b'uid="quoted"', b"uid", b"quoted"),
        (b"xuid=1; uid=2", b"uid", b"2"),
        (b"a=1", b"uid", None),
        (b"uid", b"uid", None),
    ],
)
def test_cookie_value_finds_one_cookie(header: bytes, name: bytes, value: bytes | None) -> None:
    assert cookie_value(header, name) == value
