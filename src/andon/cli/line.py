"""``andon line status|stop|resume``: the andon cord. A red trunk stops the line by itself;
a person can pull it too; a later green or a resume restarts it."""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer

from andon.cli._common import Json, ProjectOption, Url, ago, client, resolve_project
from andon.cli._output import emit_json, say

app = typer.Typer(help="See, stop and resume the line (the andon cord).", no_args_is_help=True)


def _show(line: dict[str, Any]) -> None:
    if line["state"] == "stopped":
        say(
            f"The line of {line['project']} is STOPPED ({line['cause']}) for "
            f"{ago(line.get('stopped_seconds'))}: {line['reason']}"
        )
        details = line.get("details") or {}
        if details.get("failing_tests"):
            say("Failing tests: " + ", ".join(details["failing_tests"][:10]))
        green = line.get("last_green")
        if green:
            say(
                f"Last green: pipeline #{green['pipeline']} at {green['commit'][:12]} "
                "(its artifact may still be promoted)."
            )
        say(
            "Protected environments refuse newer artifacts until trunk is green again or "
            "'andon line resume'."
        )
    else:
        trunk = line.get("trunk") or "not built yet"
        say(f"The line of {line['project']} is running; trunk is {trunk}.")
    history = line.get("history", [])
    if history:
        say("History:")
        for event in history[:10]:
            say(
                f"  {event['at']}  {event['state']:<8} {event['cause']:<9} {event['actor']:<10} "
                f"{event['reason']}"
            )


@app.command("status")
def status(project: ProjectOption = None, url: Url = None, as_json: Json = False) -> None:
    """Whether the line runs; if stopped, why, by whom and since when."""
    with client(url) as api:
        line = api.get(f"/projects/{resolve_project(api, project)}/line")
    if as_json:
        emit_json(line)
    else:
        _show(line)


@app.command("stop")
def stop(
    reason: Annotated[str, typer.Option("--reason", help="Why, for everyone to read.")],
    project: ProjectOption = None,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Pull the cord: protected environments refuse new artifacts until it is resumed."""
    with client(url) as api:
        name = resolve_project(api, project)
        line = api.post(
            f"/projects/{name}/line/stop", {"reason": reason, "actor": getpass.getuser()}
        )
    if as_json:
        emit_json(line)
    else:
        say(f"Stopped the line of {name}: {reason}")


@app.command("resume")
def resume(project: ProjectOption = None, url: Url = None, as_json: Json = False) -> None:
    """Restart a stopped line."""
    with client(url) as api:
        name = resolve_project(api, project)
        line = api.post(f"/projects/{name}/line/resume", {"actor": getpass.getuser()})
    if as_json:
        emit_json(line)
    else:
        say(f"The line of {name} runs again.")
