"""Every judge against its golden cases: ``cases/*.json`` hold a judge, the looks it is
shown (each version's window since the analysis began) and the outcome and sentence
expected at the last look. Sequential judges get their state back through JSON, as from
the reconciler's store.

A case::

    {"judge": "comparison", "metric": {"name": "errors", "query": "error_rate"},
     "options": {"max_increase": 1.0},
     "looks": [{"elapsed": 60, "budget": 60,
                "canary": {"requests": 1830, "errors": 75,
                           "latency": {"0.05": 1800, "inf": 30},
                           "counters": {"shop_orders_total": 12}},
                "stable": {...}}],
     "expected": {"outcome": "fail", "sentence": "..."}}

``latency`` is keyed by bucket bound (``inf`` for the last); without it every request took
50 ms.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from andon.analysis import (
    ComparisonJudge,
    Judge,
    Look,
    Metric,
    SequentialJudge,
    SequentialState,
    ThresholdJudge,
    VersionSample,
)

CASES = Path(__file__).parent / "cases"
JUDGES = {
    "threshold": ThresholdJudge,
    "comparison": ComparisonJudge,
    "sequential": SequentialJudge,
}


def build_judge(case: dict[str, Any]) -> Judge:
    metric = Metric.from_query(case["metric"]["name"], case["metric"]["query"])
    return JUDGES[case["judge"]](metric, **case.get("options", {}))


def build_sample(
    make: Callable[..., VersionSample], data: dict[str, Any] | None, version: str, at: float
) -> VersionSample | None:
    if data is None:
        return None
    latency = data.get("latency")
    return make(
        data["requests"],
        data.get("errors", 0),
        version=version,
        latency=None if latency is None else {float(k): v for k, v in latency.items()},
        counters=data.get("counters"),
        at=at,
    )


@pytest.mark.parametrize("path", sorted(CASES.glob("*.json")), ids=lambda path: path.stem)
def test_golden_case(path: Path, sample: Callable[..., VersionSample]) -> None:
    case = json.loads(path.read_text("utf-8"))
    judge = build_judge(case)
    state: SequentialState | None = None
    verdict = None
    for look in case["looks"]:
        elapsed = float(look["elapsed"])
        canary = build_sample(sample, look["canary"], "canary", elapsed)
        assert canary is not None
        verdict = judge.judge(
            Look(
                canary,
                build_sample(sample, look.get("stable"), "stable", elapsed),
                elapsed=elapsed,
                budget=look.get("budget"),
                state=state,
            )
        )
        if verdict.state is not None:
            state = SequentialState.from_dict(json.loads(json.dumps(verdict.state.to_dict())))
    assert verdict is not None
    assert verdict.outcome.value == case["expected"]["outcome"]
    assert verdict.sentence == case["expected"]["sentence"]
    assert json.loads(json.dumps(verdict.to_dict())) == verdict.to_dict()
    assert all(not isinstance(v, float) or math.isfinite(v) for v in verdict.evidence.values())
