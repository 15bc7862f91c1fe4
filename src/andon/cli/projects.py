"""``andon project add|list|show|remove``: register service repositories with the server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from andon.cli._common import Json, Url, client
from andon.cli._output import console, emit_json, note, say
from andon.cli._output import table as output_table
from andon.errors import NotFoundError
from andon.repos import is_remote

app = typer.Typer(help="Register service repositories and list them.", no_args_is_help=True)


def _brief(project: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in project.items() if key != "spec"}


@app.command("add")
def add(
    source: Annotated[str, typer.Argument(help="A repository path or a git URL.")],
    subdir: Annotated[str, typer.Option("--dir", help="Where andon.yaml is, for monorepos.")] = "",
    name: Annotated[str | None, typer.Option("--name", help="Defaults to the service.")] = None,
    trunk: Annotated[str, typer.Option("--trunk", help="The trunk branch.")] = "main",
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Register a repository; its andon.yaml is validated at the tip of trunk."""
    if not is_remote(source):
        path = Path(source).expanduser()
        if not path.is_dir():
            raise NotFoundError(f"there is no directory {source}; name a repository's path or URL.")
        source = str(path.resolve())
    with client(url) as api:
        project = api.post(
            "/projects", {"source": source, "dir": subdir, "name": name, "trunk": trunk}
        )
    if as_json:
        emit_json(_brief(project))
        return
    # A refreshed registration keeps its creation time; a new one has just one time.
    verb = "Registered" if project["created_at"] == project["updated_at"] else "Refreshed"
    say(
        f"{verb} project {project['name']} (service {project['service']}, trunk "
        f"{project['trunk']} at {project['commit'][:12]})."
    )


@app.command("list")
def list_(url: Url = None, as_json: Json = False) -> None:
    """List the registered projects."""
    with client(url) as api:
        projects = api.get("/projects")
    if as_json:
        emit_json([_brief(project) for project in projects])
        return
    if not projects:
        note("No projects yet; 'andon project add PATH' registers one.")
        return
    table = output_table("NAME", "SERVICE", "TRUNK", "COMMIT", "SOURCE", "DIR")
    for project in projects:
        table.add_row(
            project["name"],
            project["service"],
            project["trunk"],
            project["commit"][:12],
            project["source"],
            project["dir"] or ".",
        )
    console.print(table)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The project's name.")],
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Show one project, with its validated andon.yaml."""
    with client(url) as api:
        project = api.get(f"/projects/{name}")
    if as_json:
        emit_json(project)
        return
    for key in ("name", "service", "source", "dir", "trunk", "commit", "created_at", "updated_at"):
        say(f"{key + ':':12} {project[key]}")
    environments = ", ".join(project["spec"].get("environments", {}))
    say(f"{'environments:':12} {environments}")


@app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="The project's name.")],
    url: Url = None,
) -> None:
    """Forget a project; its repository is left alone."""
    with client(url) as api:
        api.delete(f"/projects/{name}")
    say(f"Removed project {name}.")
