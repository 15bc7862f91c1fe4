"""``andon freeze add|list|lift``: freeze windows, during which deploys to an environment
are refused unless a person breaks the glass with a reason (``andon deploy ENV
--break-glass "why"``). Adding and lifting one needs the admin role."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from andon.cli._client import ApiClient
from andon.cli._common import Json, ProjectOption, Url, client, resolve_project
from andon.cli._output import console, emit_json, note, say, when
from andon.cli._output import table as output_table
from andon.errors import UsageError

app = typer.Typer(
    help="Freeze windows: times when deploys to an environment are refused.",
    no_args_is_help=True,
)

Env = Annotated[str, typer.Argument(help="The environment's name.", show_default=False)]


def _path(slug: str, environment: str) -> str:
    return f"/projects/{slug}/environments/{environment}/freezes"


def _until(text: str) -> str:
    """``--until`` as an aware ISO time; UsageError naming the form otherwise."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--until {text!r} is not an ISO time; give one such as 2026-12-24T18:00Z."
        ) from None
    if parsed.tzinfo is None:
        raise UsageError(f"--until {text!r} has no time zone; add one, e.g. {text}Z.")
    return parsed.isoformat()


@app.command("add")
def add(
    environment: Env,
    reason: Annotated[str, typer.Option("--reason", help="Why; shown to whoever tries to deploy.")],
    lasts: Annotated[
        str | None, typer.Option("--for", help="How long from now, e.g. 4h or 3d.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="When it ends, e.g. 2026-12-27T09:00Z.")
    ] = None,
    project: ProjectOption = None,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Freeze an environment from now, --for a while or --until a time."""
    if (lasts is None) == (until is None):
        raise UsageError("say how long the freeze lasts: --for 4h, or --until an ISO time.")
    body: dict[str, Any] = {"reason": reason, "duration": lasts}
    if until is not None:
        body["ends_at"] = _until(until)
    with client(url) as api:
        slug = resolve_project(api, project)
        window = api.post(_path(slug, environment), body)
    if as_json:
        emit_json(window)
        return
    say(
        f"froze {environment} of {slug} until {when(window['ends_at'])} UTC "
        f"(freeze #{window['id']}): {window['reason']}"
    )
    note(
        f"deploys to it are refused until then unless they --break-glass with a reason; "
        f"'andon freeze lift {environment} {window['id']}' ends it early."
    )


@app.command("list")
def list_(
    environment: Annotated[
        str | None, typer.Argument(help="One environment (else every one).", show_default=False)
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Include past and lifted windows.")] = False,
    project: ProjectOption = None,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Freeze windows that have not ended (with --all, every one), by start."""
    with client(url) as api:
        slug = resolve_project(api, project)
        windows = _windows(api, slug, environment, every=every)
    if as_json:
        emit_json(windows)
        return
    if not windows:
        where = environment or f"any environment of {slug}"
        note(f"No freeze windows on {where}; 'andon freeze add ENV --reason R --for 4h' adds one.")
        return
    now = datetime.now(UTC)
    table = output_table("ID", "ENV", "STATE", "FROM", "UNTIL", "BY", "REASON")
    for window in windows:
        table.add_row(
            str(window["id"]),
            window["environment"],
            _state(window, now),
            when(window["starts_at"]),
            when(window["ends_at"]),
            window["created_by"],
            window["reason"],
        )
    console.print(table)


@app.command("lift")
def lift(
    environment: Env,
    freeze_id: Annotated[
        int, typer.Argument(help="The window's number (see 'andon freeze list').")
    ],
    project: ProjectOption = None,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """End a freeze window now."""
    with client(url) as api:
        slug = resolve_project(api, project)
        window = api.delete(f"{_path(slug, environment)}/{freeze_id}")
    if as_json:
        emit_json(window)
        return
    say(f"lifted freeze #{window['id']} of {window['environment']} of {slug}: deploys go ahead")


def _windows(
    api: ApiClient, slug: str, environment: str | None, *, every: bool
) -> list[dict[str, Any]]:
    """The windows of one environment, or of each of the project's, by start."""
    query = "?all=true" if every else ""
    if environment is not None:
        return list(api.get(f"{_path(slug, environment)}{query}"))
    found: list[dict[str, Any]] = []
    for env in api.get(f"/projects/{slug}/environments"):
        found.extend(api.get(f"{_path(slug, env['name'])}{query}"))
    return sorted(found, key=lambda window: (window["starts_at"], window["id"]))


def _state(window: dict[str, Any], now: datetime) -> str:
    """``active``, ``lifted``, ``upcoming`` or ``ended``."""
    if window["active"]:
        return "active"
    if window["lifted_at"]:
        return "lifted"
    return "upcoming" if datetime.fromisoformat(window["starts_at"]) > now else "ended"
