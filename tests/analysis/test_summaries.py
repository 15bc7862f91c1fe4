"""``summarize_run``: each metric's figures per version and its judges' latest word, as
``andon rollout status`` shows them."""

from __future__ import annotations

from andon.analysis import (
    AnalysisRunState,
    LatencyHistogram,
    MetricProgress,
    Outcome,
    Verdict,
    VersionSample,
    summarize_run,
)

BOUNDS = (0.1, 0.5, 1.0)


def sample(version: str, requests: int, errors: int, slow: int, orders: float) -> VersionSample:
    """``requests`` answered, ``slow`` of them between 0.5 and 1 s, the rest under 0.1 s."""
    latency = LatencyHistogram(BOUNDS, (requests - slow, 0, slow, 0))
    return VersionSample(version, 100.0, requests, errors, latency, {"orders": orders}, 40.0)


def run(**changes: object) -> AnalysisRunState:
    errors = MetricProgress(
        "errors",
        since=40.0,
        total={"v2": sample("v2", 400, 20, 0, 40), "v1": sample("v1", 1600, 4, 0, 200)},
        latest={
            "baseline": Verdict(
                "errors", Outcome.FAIL, "error rate 5% vs stable 0.25% over 2,000 requests"
            )
        },
        final=Verdict("errors", Outcome.FAIL, "error rate 5% vs stable 0.25%"),
    )
    defaults: dict[str, object] = {
        "run": 2,
        "canary": "v2",
        "stable": "v1",
        "metrics": ("errors", "latency"),
        "started_at": 40.0,
        "budget": 60.0,
        "progress": {"errors": errors},
    }
    return AnalysisRunState(**(defaults | changes))  # type: ignore[arg-type]


def test_each_metric_shows_canary_and_stable_side_by_side_with_the_judges_word() -> None:
    errors, latency = summarize_run(run().to_dict())

    assert errors["metric"] == "errors" and errors["final"] == "fail"
    canary, stable = errors["versions"]["canary"], errors["versions"]["stable"]
    assert (canary["version"], canary["requests"], canary["error_rate"]) == ("v2", 400, 0.05)
    assert canary["counters_per_request"] == {"orders": 0.1}
    assert canary["text"] == "400 requests, 5% errors, p95 95 ms, orders 0.1/request"
    assert stable["text"] == "1,600 requests, 0.25% errors, p95 95 ms, orders 0.125/request"
    assert errors["verdicts"] == {
        "baseline": {
            "outcome": "fail",
            "sentence": "error rate 5% vs stable 0.25% over 2,000 requests",
        }
    }
    # A metric no look has reached yet has no figures and no verdict.
    assert latency == {
        "metric": "latency",
        "versions": {},
        "verdicts": {},
        "final": None,
        "skipped": False,
    }


def test_without_a_stable_version_the_recorded_baseline_stands_in() -> None:
    baseline = sample("v1", 5000, 10, 500, 0)
    state = run(
        stable=None,
        baseline=baseline,
        progress={"errors": MetricProgress("errors", total={"v2": sample("v2", 10, 0, 0, 0)})},
    )

    (errors, _) = summarize_run(state.to_dict())

    assert set(errors["versions"]) == {"canary", "baseline"}
    assert errors["versions"]["baseline"]["latency_p95"] == 0.75
    assert errors["versions"]["baseline"]["text"].startswith("5,000 requests, 0.2% errors, p95")
