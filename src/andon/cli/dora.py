"""``andon dora``: DORA's five metrics of a project's deployments to an environment — each
metric's value, DORA performance level and trend since the period before — then the
deployments counted. ``andon demo`` prints the same table with :func:`show_report`."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

import typer

from andon.cli._common import Json, Url, client
from andon.cli._output import console, emit_json, say, table, when

ProjectChoice = Annotated[
    str | None,
    typer.Option(
        "--project", "-p", help="The project (default: the only one, else every project)."
    ),
]
Environment = Annotated[
    str, typer.Option("--env", "-e", help="The environment whose deployments count.")
]
Since = Annotated[
    str,
    typer.Option(
        "--since", help="Where the window begins: a duration back (30d, 12h, 90m) or an ISO time."
    ),
]

DASH = "\u2013"
"""An en dash: no level, or no data."""
NO_DATA = f"{DASH} no data"
TRENDS = {"better": "↑ better", "worse": "↓ worse", "same": "= same"}
NAMES = {
    "deployment_frequency": "Deployment frequency",
    "change_lead_time": "Change lead time",
    "change_fail_rate": "Change fail rate",
    "failed_deployment_recovery_time": "Failed deployment recovery time",
    "deployment_rework_rate": "Deployment rework rate",
}


def dora(
    project: ProjectChoice = None,
    env: Environment = "prod",
    since: Since = "30d",
    url: Url = None,
    as_json: Json = False,
) -> None:
    """DORA's five metrics of the deployments to an environment, with levels and trends."""
    query = urlencode({"environment": env, "since": since})
    with client(url) as api:
        name = project or _the_only_project(api.get("/projects"))
        path = "/dora" if name is None else f"/projects/{quote(name, safe='')}/dora"
        report = api.get(f"{path}?{query}")
    if as_json:
        emit_json(report)
    else:
        show_report(report)


def show_report(report: dict[str, Any]) -> None:
    """The report as ``andon dora`` prints it: a line on what it covers, one row per
    metric (value, level, trend), then the deployments counted."""
    whose = f"{report['project']}'s" if report["project"] else "every project's"
    say(
        f"DORA metrics of {whose} {report['environment']} from {when(report['since'])} to "
        f"{when(report['until'])} UTC ({_window(report['days'])})"
    )
    rows = table("METRIC", "VALUE", "LEVEL", "TREND")
    for key, metric in report["metrics"].items():
        value, previous = _values(key, metric)
        trend = TRENDS.get(metric["trend"], NO_DATA)
        if metric["trend"] is not None:
            trend += f" (was {previous})"
        rows.add_row(NAMES.get(key, key), value, metric["level"] or DASH, trend)
    console.print(rows)
    say("")
    show_deployments(report)


def show_deployments(report: dict[str, Any]) -> None:
    """The deployments the metrics counted, oldest first."""
    listed = report["deployment_list"]
    if not listed:
        say(f"No deployment to {report['environment']} started in this window.")
        return
    every = report["project"] is None
    columns = ("STARTED", "VERSION", "OUTCOME", "WHY", "REWORK", "RESTORED AFTER")
    rows = table(*(("PROJECT", *columns) if every else columns))
    for deployment in listed:
        cells = [
            when(deployment["started_at"]),
            deployment["version"][:12],
            deployment["outcome"].replace("_", " "),
            deployment["why"],
            "rework" if deployment["rework"] else "",
            span(deployment["recovery_seconds"]) if deployment["recovery_seconds"] else "",
        ]
        rows.add_row(*([deployment["project"], *cells] if every else cells))
    counted = report["deployments"]
    say(
        f"Deployments counted: {counted['total']} ({counted['succeeded']} succeeded, "
        f"{counted['failed']} failed, {counted['in_progress']} in progress, "
        f"{counted['rework']} rework)"
    )
    console.print(rows)


def span(seconds: float | None) -> str:
    """``45s``, ``4m 12s``, ``2h 5m``, ``3d 4h``: a duration for people, to two units."""
    if seconds is None:
        return DASH
    whole = round(seconds)
    for size, unit, smaller, small_unit in (
        (86400, "d", 3600, "h"),
        (3600, "h", 60, "m"),
        (60, "m", 1, "s"),
    ):
        if whole >= size:
            big, rest = divmod(whole, size)
            small = rest // smaller
            return f"{big}{unit} {small}{small_unit}" if small else f"{big}{unit}"
    return f"{whole}s"


def _values(key: str, metric: dict[str, Any]) -> tuple[str, str]:
    """A metric's value in people's units, and its previous period's."""
    if key == "deployment_frequency":
        counted = _plural(metric["count"], "deployment", "deployments")
        return f"{_frequency(metric['value'])} ({counted})", _frequency(metric["previous"])
    if key == "change_lead_time":
        return _quantiles(metric, _plural(metric["commits"], "commit", "commits"))
    if key == "failed_deployment_recovery_time":
        return _quantiles(metric, _plural(metric["recoveries"], "recovery", "recoveries"))
    part = metric["failed"] if key == "change_fail_rate" else metric["rework"]
    return _share(metric["value"], part, metric["deployments"]), _share(metric["previous"])


def _quantiles(metric: dict[str, Any], counted: str) -> tuple[str, str]:
    previous = span(metric["previous"])
    if metric["median_seconds"] is None:
        return NO_DATA, previous
    median, p90 = span(metric["median_seconds"]), span(metric["p90_seconds"])
    return f"{median} median, {p90} p90 ({counted})", previous


def _window(days: float) -> str:
    """The window's length: in days from a day on, else as a span (``1h``, not ``0.0 days``)."""
    return f"{days:.1f} days" if days >= 1 else span(days * 86400)


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _frequency(per_day: float | None) -> str:
    if per_day is None:
        return NO_DATA
    if per_day == 0:
        return "0 per day"
    if per_day >= 1:
        return f"{per_day:.1f} per day"
    if per_day * 7 >= 1:
        return f"{per_day * 7:.1f} per week"
    return f"{per_day * 30:.1f} per month"


def _share(value: float | None, part: int | None = None, whole: int | None = None) -> str:
    if value is None:
        return NO_DATA
    shown = f"{100 * value:.0f}%"
    return shown if part is None else f"{shown} ({part} of {whole})"


def _the_only_project(projects: list[dict[str, Any]]) -> str | None:
    """The one registered project's name; None (every project) when there are more."""
    return str(projects[0]["name"]) if len(projects) == 1 else None
