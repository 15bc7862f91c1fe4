"""``andon audit list|verify``: the hash-chained audit trail of every change — who did
what to what, and when — and whether the chain still holds (admins only)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import typer

from andon.cli._common import Json, Url, client
from andon.cli._output import console, emit_json, note, say
from andon.cli._output import table as output_table

app = typer.Typer(
    help="The audit trail: who changed what, and whether it holds.", no_args_is_help=True
)


@app.command("list")
def list_entries(
    since: Annotated[
        str | None, typer.Option("--since", help="Only this far back, e.g. 24h or 7d.")
    ] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only what this user did.")] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", help="Only this action or those under it, e.g. access."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="How many.")] = 100,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """The newest entries first; --json gives each whole, with what changed and its hash."""
    filters = {"since": since, "actor": actor, "action": action, "limit": limit}
    query = urlencode({key: value for key, value in filters.items() if value is not None})
    with client(url) as api:
        entries: list[dict[str, Any]] = api.get(f"/audit?{query}")
    if as_json:
        emit_json(entries)
        return
    if not entries:
        note("No audit entries match.")
        return
    table = output_table("ID", "TIME", "ACTOR", "ACTION", "TARGET")
    for entry in entries:
        table.add_row(
            str(entry["id"]),
            str(entry["at"])[:19].replace("T", " "),
            entry["actor"],
            entry["action"],
            entry["target"],
        )
    console.print(table)


@app.command("verify")
def verify(url: Url = None, as_json: Json = False) -> None:
    """Walk the trail checking every entry's hash and link; exit 1 naming the first broken
    entry when one was changed, removed or moved."""
    with client(url) as api:
        check: dict[str, Any] = api.get("/audit/verify")
    if as_json:
        emit_json(check)
    elif check["ok"]:
        say(f"the audit trail holds: {check['entries']} entries, head {check['head'][:12]}")
    else:
        say(
            f"the audit trail is broken at entry #{check['broken']}: {check['reason']} "
            f"({check['entries']} entries before it hold)"
        )
    if not check["ok"]:
        raise typer.Exit(1)
