"""``andon flow``: the flow of work, stage by stage — per stage of the value stream, its
process time against its wait time and its flow efficiency; the lead time from commit to
the last environment split the same way; and the time the line spent stopped."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import typer
from rich.text import Text

from andon.cli._common import Json, ProjectOption, Url, ago, client, resolve_project
from andon.cli._output import console, emit_json, say, table, when

BAR = 20
"""Cells of an efficiency bar."""

Since = Annotated[
    str,
    typer.Option(
        "--since", help="Where the window begins: a duration back (30d, 12h, 90m) or an ISO time."
    ),
]


def flow(
    project: ProjectOption = None, since: Since = "30d", url: Url = None, as_json: Json = False
) -> None:
    """Per stage, process time against wait time, and the time the line spent stopped."""
    with client(url) as api:
        name = resolve_project(api, project)
        report = api.get(f"/projects/{name}/flow?{urlencode({'since': since})}")
    if as_json:
        emit_json(report)
    else:
        show(report)


def show(report: dict[str, Any]) -> None:
    """The report as a table of stages and two sentences: the lead time and the line."""
    say(
        f"Flow of {report['project']} from {when(report['since'])} to "
        f"{when(report['until'])} UTC ({report['days']:.1f} days)"
    )
    stages = report["stages"]
    if not stages:
        say("No commit on trunk had a pipeline in this window.")
    else:
        rows = table("STAGE", "DONE", "NOW", "PROCESS", "WAIT", "FLOW EFFICIENCY")
        for stage in stages:
            done = str(stage["items"]) + (f" ({stage['failed']} failed)" if stage["failed"] else "")
            rows.add_row(
                Text(stage["name"]),
                done,
                str(stage["in_progress"]),
                ago(stage["process_seconds"]) if stage["items"] else "-",
                ago(stage["wait_seconds"]) if stage["items"] else "-",
                efficiency_bar(stage["efficiency"]),
            )
        console.print(rows)
    say(lead_time_sentence(report["lead_time"]))
    say(line_sentence(report["line"]))


def efficiency_bar(share: float | None) -> str:
    """``██████░░░░░░  30%``: process time's share, drawn; ``-`` when nothing was timed."""
    if share is None:
        return "-"
    filled = round(BAR * share)
    return f"{'█' * filled}{'░' * (BAR - filled)} {100 * share:3.0f}%"


def lead_time_sentence(lead: dict[str, Any]) -> str:
    if lead["to"] is None:
        return "The stream has no environment, so no commit reaches production."
    if not lead["commits"]:
        return f"No commit reached {lead['to']} in this window."
    commits = "1 commit" if lead["commits"] == 1 else f"{lead['commits']} commits"
    return (
        f"Commit to {lead['to']}: {commits}, median lead time {ago(lead['median_seconds'])}; "
        f"in all, process {ago(lead['process_seconds'])} and wait {ago(lead['wait_seconds'])} "
        f"({100 * (lead['efficiency'] or 0):.0f}% flow efficiency)."
    )


def line_sentence(line: dict[str, Any]) -> str:
    now = " It is stopped now." if line["stopped_now"] else ""
    if not line["stops"]:
        return "The line never stopped in this window."
    times = "once" if line["stops"] == 1 else f"{line['stops']} times"
    longest = line["longest"]
    share = 100 * (line["stopped_share"] or 0)
    return (
        f"The line stopped {times}, for {ago(line['stopped_seconds'])} in all ({share:.1f}% "
        f"of the window); the longest stop, {ago(longest['seconds'])} from "
        f"{when(longest['started_at'])} UTC ({longest['cause']}): "
        f"{longest['reason'].rstrip('.') or 'no reason given'}.{now}"
    )
