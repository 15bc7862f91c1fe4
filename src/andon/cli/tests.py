"""``andon tests flaky``: tests that failed and then passed on a retry."""

from __future__ import annotations

from typing import Annotated

import typer

from andon.cli._common import Json, ProjectOption, Url, client
from andon.cli._output import emit_json, note, say

app = typer.Typer(help="What the pipelines learned about the tests.", no_args_is_help=True)


@app.command("flaky")
def flaky(
    project: ProjectOption = None,
    days: Annotated[int, typer.Option(help="The window, in days.")] = 30,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Flaky tests of the last days, most often flaky first."""
    with client(url) as api:
        query = f"?days={days}" + (f"&project={project}" if project else "")
        report = api.get(f"/tests/flaky{query}")
    if as_json:
        emit_json(report)
        return
    tests = report["tests"]
    if not tests:
        note(f"No flaky tests in the last {days} days.")
        return
    say(f"{'COUNT':>5}  {'TEST':<50} {'JOB':<12} LAST SEEN")
    for test in tests:
        flag = "  ← needs attention" if test["needs_attention"] else ""
        say(f"{test['count']:>5}  {test['test']:<50} {test['job']:<12} {test['last_seen']}{flag}")
