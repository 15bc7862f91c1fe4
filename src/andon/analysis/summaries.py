"""What an analysis run has seen so far, per metric and version, as people watching a
rollout read it: requests, error rate and p95 latency of each version over the run's
window (the recorded baseline standing in for a stable version that takes no traffic),
and each judge's latest verdict. The rollouts API puts it beside the rollout, for
``andon rollout status --watch`` and the dashboard. Pure: no I/O and no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from andon.analysis import _formatting as fmt
from andon.analysis.run_state import AnalysisRunState
from andon.analysis.samples import VersionSample

__all__ = ["summarize_run"]


def summarize_run(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per metric of the run persisted as ``data`` (see
    :meth:`AnalysisRunState.to_dict`); no side effects.

    Each row: ``metric``, ``versions`` (role → version, requests, error rate, p95 latency,
    each with a readable ``text``), ``verdicts`` (role → outcome and sentence, latest
    first judged) and ``final`` (the metric's settled outcome, or None).
    """
    run = AnalysisRunState.from_dict(data)
    rows = []
    for name in run.metrics:
        progress = run.progress.get(name)
        windows = progress.total if progress is not None else {}
        versions: dict[str, Any] = {}
        canary = windows.get(run.canary)
        if canary is not None:
            versions["canary"] = _version(canary)
        stable = windows.get(run.stable) if run.stable is not None else None
        if stable is not None:
            versions["stable"] = _version(stable)
        elif run.baseline is not None:
            versions["baseline"] = _version(run.baseline)
        verdicts = {
            role: {"outcome": verdict.outcome.value, "sentence": verdict.sentence}
            for role, verdict in (progress.latest.items() if progress is not None else ())
        }
        final = progress.final if progress is not None else None
        rows.append(
            {
                "metric": name,
                "versions": versions,
                "verdicts": verdicts,
                "final": None if final is None else final.outcome.value,
                "skipped": name in run.skipped,
            }
        )
    return rows


def _version(sample: VersionSample) -> dict[str, Any]:
    rate = sample.errors / sample.requests if sample.requests else None
    p95 = sample.latency.quantile(0.95)
    parts = [fmt.requests(sample.requests)]
    if rate is not None:
        parts.append(f"{fmt.percent(rate)} errors")
    if p95 is not None:
        parts.append(f"p95 {fmt.seconds(p95)}")
    per_request = {
        name: value / sample.requests for name, value in sample.counters.items() if sample.requests
    }
    parts += [f"{name} {fmt.number(value)}/request" for name, value in per_request.items()]
    return {
        "version": sample.version,
        "requests": sample.requests,
        "error_rate": rate,
        "latency_p95": p95,
        "counters_per_request": per_request,
        "text": ", ".join(parts),
    }
