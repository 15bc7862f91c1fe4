"""The line's deciders, driven by golden cases in ``line_cases/*.json``: the line as it is,
an event (a finished pipeline, a manual stop or resume, a promotion), the time, and what
must follow."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from andon.pipeline.line import (
    FinishedPipeline,
    LineCause,
    LineChange,
    LineView,
    assess_promotion,
    decide_after_pipeline,
    decide_manual_resume,
    decide_manual_stop,
)

CASES = sorted((Path(__file__).parent / "line_cases").glob("*.json"))


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _line(data: dict[str, Any]) -> LineView:
    return LineView(
        stopped=data["stopped"],
        cause=LineCause(data["cause"]) if data.get("cause") else None,
        since=_time(data.get("since")),
        reason=data.get("reason", ""),
    )


def _decide(case: dict[str, Any]) -> Any:
    line, event, now = _line(case["line"]), case["event"], _time(case["now"])
    assert now is not None
    if "pipeline" in event:
        data = dict(event["pipeline"])
        data["created_at"] = _time(data["created_at"])
        return decide_after_pipeline(line, FinishedPipeline(**data), now)
    if "stop" in event:
        return decide_manual_stop(line, now=now, **event["stop"])
    if "resume" in event:
        return decide_manual_resume(line, now=now, **event["resume"])
    refusal = assess_promotion(line, now=now, **event["promotion"])
    return {"refused": refusal.message if refusal else None}


@pytest.mark.parametrize("path", CASES, ids=lambda path: path.stem)
def test_line_case(path: Path) -> None:
    case = json.loads(path.read_text())
    outcome = _decide(case)
    expected = case["expect"]
    if expected is None or "refused" in expected:
        assert outcome == expected
        return
    assert isinstance(outcome, LineChange)
    for key, value in expected.items():
        actual = getattr(outcome, key)
        assert (actual.value if isinstance(actual, LineCause) else actual) == value, key
    assert outcome.at == _time(case["now"])


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 12
