"""``/delivery``: how well each project the viewer may see delivers — DORA's five metrics
of its production environment with their level and trend, the deployments counted, and
the flow of its work: per stage, process time against wait time, and the time the line
spent stopped — over a window of 7, 30 or 90 days (``?since=``).

The figures are the API's: :func:`~andon.server.dora_reports.dora_report` and
:func:`~andon.server.flow_reports.flow_report`; this module words them for people.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from andon.server.api.flow import DEFAULT_SINCE, window_start
from andon.server.dashboard import svg
from andon.server.dashboard._web import Viewer, page, signed_in, store_of
from andon.server.dora_reports import dora_report
from andon.server.flow_reports import flow_report, stream_environments
from andon.store import Store

router = APIRouter(include_in_schema=False)

WINDOWS = {"7d": "7 days", "30d": "30 days", "90d": "90 days"}
"""The windows the page offers; any other ``since`` the API reads works too."""

DEPLOYMENTS_SHOWN = 50

_TRENDS = {"better": "better than", "worse": "worse than", "same": "the same as"}


def delivery_context(store: Store, viewer: Viewer, since: str, now: datetime) -> dict[str, Any]:
    """Each project's DORA report and flow over the window from ``since`` to ``now``."""
    start = window_start(since, now)
    projects = []
    for project in viewer.projects(store):
        environments = stream_environments(store, project)
        production = environments[-1] if environments else "prod"
        dora = dora_report(
            store, project=project.name, environment=production, since=start, now=now
        )
        flow = flow_report(store, project=project.name, since=start, now=now)
        projects.append(
            {
                "name": project.name,
                "environment": production,
                "deployments": dora["deployments"],
                "deployment_list": dora["deployment_list"][:DEPLOYMENTS_SHOWN],
                "metrics": metric_rows(dora["metrics"]),
                "flow": flow,
                "chart": svg.flow_chart(
                    [(s["name"], s["process_seconds"], s["wait_seconds"]) for s in flow["stages"]]
                ),
            }
        )
    windows = dict(WINDOWS)
    windows.setdefault(since, since)
    return {"projects": projects, "since": since, "windows": windows, "start": start, "now": now}


def metric_rows(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The five metrics as rows for people: the figure, what it counts, its level, and how
    it compares with the window before."""
    frequency = metrics["deployment_frequency"]
    lead = metrics["change_lead_time"]
    fails = metrics["change_fail_rate"]
    recovery = metrics["failed_deployment_recovery_time"]
    rework = metrics["deployment_rework_rate"]
    return [
        _row(
            "deployment_frequency",
            "Deployment frequency",
            frequency,
            per_day,
            _count(frequency["count"], "deployment"),
        ),
        _row(
            "change_lead_time",
            "Change lead time",
            lead,
            svg.duration,
            _spread(lead, _count(lead["commits"], "commit")),
            value="median_seconds",
        ),
        _row(
            "change_fail_rate",
            "Change fail rate",
            fails,
            _percent,
            f"{fails['failed']} of {_count(fails['deployments'], 'deployment')}",
        ),
        _row(
            "failed_deployment_recovery_time",
            "Failed deployment recovery time",
            recovery,
            svg.duration,
            _spread(recovery, _count(recovery["recoveries"], "recovery", "recoveries")),
            value="median_seconds",
        ),
        _row(
            "deployment_rework_rate",
            "Deployment rework rate",
            rework,
            _percent,
            f"{rework['rework']} of {_count(rework['deployments'], 'deployment')}",
        ),
    ]


def _row(
    key: str,
    name: str,
    metric: Mapping[str, Any],
    shown: Any,
    counted: str,
    *,
    value: str = "value",
) -> dict[str, Any]:
    trend = metric.get("trend")
    previous = metric.get("previous")
    compared = (
        f"{_TRENDS[trend]} {shown(previous)} before"
        if trend in _TRENDS and previous is not None
        else "—"
    )
    return {
        "key": key,
        "name": name,
        "value": shown(metric.get(value)),
        "counted": counted,
        "level": metric.get("level"),
        "trend": trend if trend in _TRENDS else None,
        "compared": compared,
    }


def _spread(metric: Mapping[str, Any], counted: str) -> str:
    """What a time's median is of, and its 90th percentile when there is one."""
    if metric.get("median_seconds") is None:
        return counted
    return f"median of {counted}; p90 {svg.duration(metric.get('p90_seconds'))}"


def per_day(value: float | None) -> str:
    """A frequency in the unit that reads best: a day, a week or a month."""
    if value is None:
        return "—"
    if value >= 1:
        return f"{value:.1f} a day"
    if value * 7 >= 1:
        return f"{value * 7:.1f} a week"
    return f"{value * 30:.1f} a month"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


@router.get("/delivery", response_class=HTMLResponse)
def delivery(
    request: Request,
    viewer: Annotated[Viewer, Depends(signed_in)],
    since: str = Query(DEFAULT_SINCE, max_length=64),
) -> HTMLResponse:
    """DORA's metrics and the flow of work of each project."""
    return page(
        request,
        viewer,
        "delivery.html",
        lambda: delivery_context(store_of(request), viewer, since, datetime.now(UTC)),
    )
