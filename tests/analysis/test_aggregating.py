"""A step's decision: any failure fails it, else any inconclusive pauses it, else it
passes; the sentence leads with the failing metric."""

from __future__ import annotations

from andon.analysis import Outcome, Verdict, decide_step


def verdict(metric: str, outcome: Outcome, sentence: str = "") -> Verdict:
    return Verdict(metric, outcome, sentence or f"{metric} sentence")


def test_any_failure_fails_the_step_and_is_named_first() -> None:
    decision = decide_step(
        [
            verdict("latency", Outcome.PASS),
            verdict("orders", Outcome.INCONCLUSIVE),
            verdict(
                "errors",
                Outcome.FAIL,
                "canary error rate 4.1% vs stable 0.2% over 1,830 requests (p < 0.001)",
            ),
        ]
    )
    assert decision.outcome is Outcome.FAIL
    assert decision.sentence == (
        "errors failed: canary error rate 4.1% vs stable 0.2% over 1,830 requests "
        "(p < 0.001); orders inconclusive; latency passed"
    )


def test_a_falling_business_metric_fails_the_step_like_an_error_spike() -> None:
    decision = decide_step(
        [
            verdict("errors", Outcome.PASS),
            verdict("orders", Outcome.FAIL, "canary orders per request 0.04 vs stable 0.1"),
            verdict("latency", Outcome.FAIL),
        ]
    )
    assert decision.outcome is Outcome.FAIL
    assert decision.sentence == (
        "orders failed: canary orders per request 0.04 vs stable 0.1; latency also failed; "
        "errors passed"
    )


def test_inconclusive_without_failure_pauses() -> None:
    decision = decide_step(
        [
            verdict("errors", Outcome.PASS),
            verdict("latency", Outcome.INCONCLUSIVE, "too little traffic"),
            verdict("orders", Outcome.INCONCLUSIVE),
        ]
    )
    assert decision.outcome is Outcome.INCONCLUSIVE
    assert decision.sentence == (
        "latency inconclusive: too little traffic; orders also inconclusive; errors passed"
    )


def test_all_passing_passes() -> None:
    decision = decide_step([verdict(name, Outcome.PASS) for name in ("a", "b", "c")])
    assert decision.outcome is Outcome.PASS
    assert decision.sentence == "all 3 metrics passed: a, b and c"
    single = decide_step([verdict("errors", Outcome.PASS, "fine")])
    assert single.sentence == "errors passed: fine"


def test_nothing_to_judge_never_promotes() -> None:
    assert decide_step([]).outcome is Outcome.INCONCLUSIVE


def test_the_decision_is_plain_json() -> None:
    decision = decide_step([verdict("errors", Outcome.FAIL, "bad")])
    assert decision.to_dict() == {
        "outcome": "fail",
        "sentence": "errors failed: bad",
        "verdicts": [{"metric": "errors", "outcome": "fail", "sentence": "bad", "evidence": {}}],
    }
    assert decision.evidence == {"errors": {}}
