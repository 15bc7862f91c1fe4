"""``/metrics``: DORA's five metrics of every project's environments over the last 30 days,
in Prometheus's text exposition format (0.0.4), for a Prometheus server to scrape and
alert on. Gauges by ``project`` and ``environment``; a metric without data (no failure to
recover from, no commit with a known time) has no sample rather than a made-up value.

It answers to an API token like ``/api/v1`` (viewer on every project): scrape it with
``authorization: {credentials: <token>}`` in Prometheus's scrape config.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from andon.dora import Level
from andon.server.dora_reports import dora_reports
from andon.store import Store

router = APIRouter(tags=["metrics"])

WINDOW = timedelta(days=30)
MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_QUANTILES = (("0.5", "median_seconds"), ("0.9", "p90_seconds"))
_LEVELED = (
    "deployment_frequency",
    "change_lead_time",
    "change_fail_rate",
    "failed_deployment_recovery_time",
)


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def get_metrics(request: Request) -> Response:
    """DORA's metrics of each environment deployed to, over the last 30 days, as
    Prometheus gauges."""
    now = datetime.now(UTC)
    reports = dora_reports(_store(request), since=now - WINDOW, now=now)
    return Response(render_exposition(reports), media_type=MEDIA_TYPE)


def render_exposition(reports: Iterable[dict[str, Any]]) -> str:
    """The gauges of ``reports`` (as ``dora_report`` gives them) in the text format, each
    family with its HELP and TYPE lines."""
    samples = _Samples()
    for report in reports:
        where = {"project": report["project"] or "", "environment": report["environment"]}
        metrics = report["metrics"]
        frequency = metrics["deployment_frequency"]
        samples.add("andon_dora_deployments", frequency["count"], where)
        samples.add("andon_dora_deployment_frequency_per_day", frequency["value"], where)
        for quantile, key in _QUANTILES:
            at = {**where, "quantile": quantile}
            lead, recovery = metrics["change_lead_time"], metrics["failed_deployment_recovery_time"]
            samples.add("andon_dora_change_lead_time_seconds", lead[key], at)
            samples.add("andon_dora_failed_deployment_recovery_time_seconds", recovery[key], at)
        samples.add("andon_dora_change_fail_rate", metrics["change_fail_rate"]["value"], where)
        rework = metrics["deployment_rework_rate"]["value"]
        samples.add("andon_dora_deployment_rework_rate", rework, where)
        for metric in _LEVELED:
            found = metrics[metric]["level"]
            if found is None:
                continue
            for level in Level:
                at = {**where, "metric": metric, "level": level.value}
                samples.add("andon_dora_level", 1 if level.value == found else 0, at)
    return samples.text()


_FAMILIES = {
    "andon_dora_deployments": "Deployments started in the last 30 days.",
    "andon_dora_deployment_frequency_per_day": "Deployments per day over the last 30 days.",
    "andon_dora_change_lead_time_seconds": (
        "Time from a commit landing on trunk to it running in the environment (quantiles)."
    ),
    "andon_dora_change_fail_rate": "Share of ended deployments that failed (0 to 1).",
    "andon_dora_failed_deployment_recovery_time_seconds": (
        "Time from a failed deployment's start to service restored (quantiles)."
    ),
    "andon_dora_deployment_rework_rate": (
        "Share of ended deployments made to fix a failed one (0 to 1)."
    ),
    "andon_dora_level": "1 for the DORA performance level each metric stands at, 0 for the others.",
}


class _Samples:
    """Samples gathered by family, written out family by family."""

    def __init__(self) -> None:
        self.families: dict[str, list[str]] = {name: [] for name in _FAMILIES}

    def add(self, name: str, value: float | None, labels: dict[str, str]) -> None:
        # Prometheus has no null: a metric without data has no sample.
        if value is None:
            return
        pairs = ",".join(f'{key}="{_escaped(text)}"' for key, text in labels.items())
        self.families[name].append(f"{name}{{{pairs}}} {float(value)!r}")

    def text(self) -> str:
        lines: list[str] = []
        for name, help_text in _FAMILIES.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *self.families[name]]
        return "\n".join(lines) + "\n"


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
