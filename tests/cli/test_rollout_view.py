"""What ``andon rollout status`` (and ``--watch``, live) draws from the API's view of a
rollout: the instances of each version, and each metric of the analysis under way,
canary beside stable, with the judges' word."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from andon.cli.rollouts import _render

VIEW: dict[str, Any] = {
    "id": 7,
    "environment": "prod",
    "strategy": "canary",
    "status": "running",
    "message": "analysing errors of v2 at 20%",
    "from_version": "1111111111111111",
    "to_version": "2222222222222222",
    "phase": "progressing",
    "attempt": 1,
    "pause": None,
    "traffic": {"weights": {"1111111111111111": 80, "2222222222222222": 20}},
    "steps": [{"kind": "weight", "percent": 20}, {"kind": "analysis"}],
    "step_index": 1,
    "instances": {
        "canary": {"version": "2222222222222222", "ready": 1, "failed": 1, "message": "exit 3"},
        "stable": {"version": "1111111111111111", "ready": 2, "failed": 0, "message": ""},
    },
    "metrics": [
        {
            "metric": "errors",
            "versions": {
                "canary": {"text": "400 requests, 5% errors"},
                "stable": {"text": "1,600 requests, 0.25% errors"},
            },
            "verdicts": {"baseline": {"outcome": "fail", "sentence": "error rate 5% vs 0.25%"}},
            "final": "fail",
            "skipped": False,
        },
        {"metric": "latency", "versions": {}, "verdicts": {}, "final": None, "skipped": False},
    ],
    "verdict": None,
    "decisions": [{"at": "2026-03-02T12:00:00+00:00", "sentence": "started"}],
}


def drawn(view: dict[str, Any]) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(_render(view))
    return console.export_text()


def test_status_shows_each_versions_instances_and_metrics_side_by_side() -> None:
    text = drawn(VIEW)

    assert "instances: canary 222222222222: 1 ready, 1 failed (exit 3); stable " in text
    assert "stable 111111111111: 2 ready" in text
    errors = next(line for line in text.splitlines() if line.strip().startswith("errors"))
    assert "errors (fail)" in errors
    assert errors.index("400 requests, 5% errors") < errors.index("1,600 requests, 0.25% errors")
    assert "fail: error rate 5% vs 0.25%" in errors
    latency = next(line for line in text.splitlines() if line.strip().startswith("latency"))
    assert "waiting for traffic" in latency


def test_status_without_an_analysis_shows_no_metrics_table() -> None:
    text = drawn(VIEW | {"metrics": [], "instances": {}})

    assert "instances:" not in text and "waiting for traffic" not in text
    assert "Rollout #7 of 222222222222 over 111111111111 to prod by canary: running" in text
