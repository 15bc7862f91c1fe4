"""``andon logs ENV``: what an environment's instances write (of one process or version),
and with ``--process migrate|seed|smoke`` the output of those steps' commands. Secrets
are masked by the server; ``-f`` follows new lines until Ctrl-C."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlencode

import typer

from andon.cli._common import ProjectOption, Url, client, resolve_project
from andon.cli._output import note


def logs(
    environment: Annotated[str, typer.Argument(help="The environment.", show_default=False)],
    process: Annotated[
        str | None,
        typer.Option("--process", help="One process (web), or migrate, seed or smoke."),
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Only instances of this version (commit).")
    ] = None,
    tail: Annotated[int, typer.Option("--tail", min=1, help="Lines from each log.")] = 200,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Follow new lines.")] = False,
    project: ProjectOption = None,
    url: Url = None,
) -> None:
    """Print (or follow) the logs of an environment."""
    query: dict[str, str | int] = {"tail": tail}
    query.update(
        {key: value for key, value in (("process", process), ("version", version)) if value}
    )
    with client(url) as api:
        slug = resolve_project(api, project)
        path = f"/projects/{slug}/environments/{environment}/logs?{urlencode(query)}"
        if not follow:
            text = api.text(path)
            if text:
                typer.echo(text, nl=not text.endswith("\n"))
            return
        for event, data in api.events(f"{path}&follow=true"):
            if event == "end":
                note(f"({json.loads(data)['reason']})")
                return
            typer.echo(data)
