"""What the client commands share: the options every command takes, the client, and how
a command finds the project it is about."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from andon.cli._client import ApiClient, api_token, server_url
from andon.errors import NotFoundError, UsageError
from andon.settings import Settings

Url = Annotated[str | None, typer.Option("--url", help="The server's URL (else ANDON_URL).")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ProjectOption = Annotated[
    str | None,
    typer.Option("--project", "-p", help="The project (default: the only one, or the one here)."),
]


def client(url: str | None) -> ApiClient:
    """A client of the server this command talks to."""
    settings = Settings.from_env()
    return ApiClient(server_url(url, settings), token=api_token(settings))


def resolve_project(api: ApiClient, project: str | None) -> str:
    """The project a command is about: named, the only one, or the one whose repository
    holds the current directory."""
    if project:
        return project
    projects: list[dict[str, Any]] = api.get("/projects")
    if not projects:
        raise NotFoundError("no project is registered; 'andon project add PATH' registers one.")
    if len(projects) == 1:
        return str(projects[0]["name"])
    here = Path(os.getcwd()).resolve()
    for candidate in projects:
        source = Path(candidate["source"])
        if source.is_absolute() and (here == source or source in here.parents):
            return str(candidate["name"])
    names = ", ".join(p["name"] for p in projects)
    raise UsageError(f"several projects are registered ({names}); pass --project.")


def ago(seconds: float | None) -> str:
    """``1.2s``, ``3m04s``, ``2h05m``: a duration for people."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


STATUS_MARKS = {
    "success": "✓",
    "cached": "✓",
    "failed": "✗",
    "infra_failed": "!",
    "skipped": "-",
    "canceled": "⊘",
    "interrupted": "⊘",
    "running": "▶",
    "pending": "·",
    "queued": "·",
}
