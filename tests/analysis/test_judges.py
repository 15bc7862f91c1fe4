"""The judges of andon.yaml's metrics, built by the factory; and the fake beside them."""

from __future__ import annotations

from pathlib import Path

import pytest

from andon.analysis import (
    ComparisonJudge,
    FakeJudge,
    Judge,
    Look,
    Metric,
    MetricKind,
    Outcome,
    SequentialJudge,
    ThresholdJudge,
    judges_for,
)
from andon.errors import UsageError
from andon.spec import AnalysisSpec, MetricSpec, load_spec
from andon.spec.release import BaselineSpec

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop" / "andon.yaml"


def test_the_shop_examples_metrics_get_their_judges() -> None:
    analysis = load_spec(SHOP).release.analysis
    judges = {spec.name: judges_for(spec, analysis) for spec in analysis.metrics}

    errors_threshold, errors_baseline = judges["errors"]
    assert errors_threshold == ThresholdJudge(
        Metric("errors", MetricKind.ERROR_RATE), max=0.01, min_samples=200, min_seconds=5.0
    )
    assert errors_baseline == SequentialJudge(
        Metric("errors", MetricKind.ERROR_RATE), max_increase=1.0, min_samples=200
    )
    latency_threshold, latency_baseline = judges["latency"]
    assert isinstance(latency_threshold, ThresholdJudge) and latency_threshold.max == 0.5
    assert isinstance(latency_baseline, SequentialJudge)
    assert latency_baseline.max_increase == 0.5
    [orders] = judges["orders"]
    assert orders == SequentialJudge(
        Metric("orders", MetricKind.BUSINESS, counter="shop_orders_total"),
        max_decrease=0.1,
        min_samples=20,
    )


def test_a_single_look_gets_a_comparison_judge() -> None:
    analysis = AnalysisSpec.model_validate(
        {"metrics": [{"name": "e", "query": "error_rate", "baseline": {"max_increase": "50%"}}]}
    )
    [judge] = judges_for(analysis.metrics[0], analysis, sequential=False)
    assert judge == ComparisonJudge(Metric("e", MetricKind.ERROR_RATE), max_increase=0.5)


def test_a_baseline_on_request_rate_is_refused_with_a_way_out() -> None:
    # andon.yaml refuses it on load; a spec built otherwise still meets the judge's refusal.
    metric = MetricSpec.model_construct(
        name="t", query="request_rate", baseline=BaselineSpec(max_increase=5.0), threshold=None
    )
    with pytest.raises(UsageError, match="give it a threshold instead"):
        judges_for(metric, AnalysisSpec())


def test_the_fake_judge_answers_as_scripted_and_remembers_looks(sample) -> None:
    fake: Judge = FakeJudge([Outcome.INCONCLUSIVE, Outcome.FAIL])
    look = Look(sample(10), elapsed=1)
    outcomes = [fake.judge(look).outcome for _ in range(3)]
    assert outcomes == [Outcome.INCONCLUSIVE, Outcome.FAIL, Outcome.FAIL]
    assert isinstance(fake, FakeJudge) and fake.looks == [look] * 3
