"""``andon flags list|get|set|history|eval|kill|restore|export`` and ``andon flags token
create|list|revoke``: an environment's feature flags — release decoupled from
deployment — over the server's flags API. ``--json`` everywhere; stdout keeps what
scripts read (``export`` writes a file flagd itself accepts).
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from andon.cli._client import ApiClient
from andon.cli._common import Json, ProjectOption, Url, client, resolve_project
from andon.cli._output import emit_json, say
from andon.errors import UsageError

app = typer.Typer(help="Feature flags: release decoupled from deployment.", no_args_is_help=True)
tokens = typer.Typer(help="Client tokens of an environment's SDKs.", no_args_is_help=True)
app.add_typer(tokens, name="token")

Key = Annotated[str, typer.Argument(help="The flag's key.", show_default=False)]
Env = Annotated[str, typer.Option("--env", "-e", help="The environment.", show_default=False)]
Reason = Annotated[str, typer.Option("--reason", help="Why, for the history.")]


def _base(api: ApiClient, project: str | None, environment: str) -> str:
    return f"/projects/{resolve_project(api, project)}/environments/{environment}/flags"


def _shown(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


@app.command("list")
def list_flags(
    env: Env, project: ProjectOption = None, url: Url = None, as_json: Json = False
) -> None:
    """The environment's flags: state, what each serves, kills, conflicts, guards."""
    with client(url) as api:
        found = api.get(_base(api, project, env))
    if as_json:
        emit_json(found)
        return
    say(f"flag set of {found['environment']}: version {found['version']}; {_fleet(found)}")
    table = Table("flag", "state", "serves", "notes", box=None)
    for flag in found["flags"]:
        serves = str(flag["defaultVariant"]) + (" (+ targeting)" if flag["targeted"] else "")
        notes = [
            label
            for label, on in (
                ("KILLED", flag["killed"]),
                ("conflict with andon.yaml", flag["conflict"]),
                (f"{flag['guards']} guard(s)", flag["guards"]),
                ("experiment", flag.get("experiment")),
            )
            if on
        ]
        table.add_row(flag["key"], flag["state"], serves, ", ".join(notes))
    Console().print(table)


@app.command("get")
def get_flag(
    key: Key, env: Env, project: ProjectOption = None, url: Url = None, as_json: Json = False
) -> None:
    """One flag: its definition, what andon.yaml declares, guards, and how many connected
    SDKs have applied its last change."""
    with client(url) as api:
        flag = api.get(f"{_base(api, project, env)}/{key}")
    if as_json:
        emit_json(flag)
        return
    say(f"{flag['key']} in {flag['environment']} (flag set version {flag['version']})")
    definition = flag.get("flag", {})
    say(f"  state: {definition.get('state', 'ENABLED')}" + ("  KILLED" if flag["killed"] else ""))
    variants = ", ".join(f"{n}={_shown(v)}" for n, v in definition.get("variants", {}).items())
    say(f"  variants: {variants}")
    say(f"  default: {definition.get('defaultVariant')}")
    if definition.get("targeting"):
        say(f"  targeting: {json.dumps(definition['targeting'])}")
    for state in flag.get("guard_states") or []:
        say(f"  guard: {json.dumps(state)}")
    if flag.get("conflict"):
        say(f"  conflict: {flag['conflict']['message']}")
    say(f"  fleet: {_fleet(flag)}")


def _fleet(found: dict[str, Any]) -> str:
    """``198 of 200 SDKs on version 42 or later (200 streams open)``."""
    convergence = found.get("convergence") or {}
    version = convergence.get("version", found.get("version"))
    return (
        f"{convergence.get('applied', 0)} of {convergence.get('clients', 0)} SDK(s) on "
        f"version {version} or later ({convergence.get('streams', 0)} stream(s) open)"
    )


@app.command("set")
def set_flag(
    key: Key,
    env: Env,
    project: ProjectOption = None,
    variant: Annotated[
        str | None, typer.Option("--variant", help="Serve this variant to everyone.")
    ] = None,
    on: Annotated[
        bool | None, typer.Option("--on/--off", help="Enable or disable the flag.")
    ] = None,
    rollout: Annotated[
        float | None,
        typer.Option("--rollout", help="A sticky share (percent) of targeting keys gets it."),
    ] = None,
    segment: Annotated[
        str | None, typer.Option("--segment", help="Only this $evaluators segment gets it.")
    ] = None,
    reason: Reason = "",
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Change a flag: --variant V, --on/--off, --rollout 20 or --segment NAME."""
    if variant is None and on is None and rollout is None and segment is None:
        raise UsageError("say what to set: --variant V, --on, --off, --rollout P or --segment S.")
    if rollout is not None and not 0 <= rollout <= 100:
        raise UsageError(f"--rollout is a percentage between 0 and 100, not {rollout:g}.")
    body = {"variant": variant, "on": on, "rollout": rollout, "segment": segment}
    _change(url, project, env, key, "set", body, reason, as_json)


@app.command("kill")
def kill(
    key: Key,
    env: Env,
    project: ProjectOption = None,
    reason: Reason = "",
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Turn a flag off everywhere (its off-variant, targeting set aside) until restored."""
    _change(url, project, env, key, "kill", {}, reason, as_json)


@app.command("restore")
def restore(
    key: Key,
    env: Env,
    project: ProjectOption = None,
    reason: Reason = "",
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Bring back what a flag served before it was killed."""
    _change(url, project, env, key, "restore", {}, reason, as_json)


_DONE = {"set": "set", "kill": "killed", "restore": "restored"}


def _change(
    url: str | None,
    project: str | None,
    env: str,
    key: str,
    verb: str,
    body: dict[str, Any],
    reason: str,
    as_json: bool,
) -> None:
    """POST ``flags/KEY/VERB`` with who asks and why; say the new version and the fleet."""
    with client(url) as api:
        flag = api.post(
            f"{_base(api, project, env)}/{key}/{verb}",
            {**body, "reason": reason, "by": getpass.getuser()},
        )
    if as_json:
        emit_json(flag)
        return
    say(
        f"{flag['key']} {_DONE[verb]} in {flag['environment']}: flag set version "
        f"{flag['version']}; {_fleet(flag)}"
    )


@app.command("history")
def history(
    env: Env,
    key: Annotated[str | None, typer.Argument(help="One flag (else all).")] = None,
    project: ProjectOption = None,
    limit: Annotated[int, typer.Option("--limit", help="Entries shown.")] = 30,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Every change of the environment's flags (or of one): who, when, what, why."""
    with client(url) as api:
        base = _base(api, project, env)
        path = f"{base}/{key}/history" if key else f"{base}/history"
        entries = api.get(f"{path}?limit={limit}")
    if as_json:
        emit_json(entries)
        return
    for entry in entries:
        why = f" — {entry['reason']}" if entry.get("reason") else ""
        say(
            f"v{entry['version']}  {str(entry['at'])[:19]}  {entry['kind']:<15} "
            f"{entry.get('flag') or '':<20} by {entry.get('actor') or '?'}{why}"
        )


@app.command("eval")
def evaluate(
    key: Key,
    env: Env,
    project: ProjectOption = None,
    context: Annotated[
        str, typer.Option("--context", "-c", help="The evaluation context, as JSON.")
    ] = "{}",
    url: Url = None,
    as_json: Json = False,
) -> None:
    """What a flag answers for a context: value, variant, reason."""
    try:
        parsed = json.loads(context)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--context is not JSON ({exc.msg} at {exc.pos}).") from None
    if not isinstance(parsed, dict):
        raise UsageError('--context is a JSON object, e.g. \'{"targetingKey": "u1"}\'.')
    with client(url) as api:
        found = api.post(f"{_base(api, project, env)}/{key}/evaluate", {"context": parsed})
    if as_json:
        emit_json(found)
        return
    error = f" ({found['error_code']}: {found['error_message']})" if found["error_code"] else ""
    say(f"value: {_shown(found['value'])}")
    say(f"variant: {found['variant']}")
    say(f"reason: {found['reason']}{error}")


@app.command("export")
def export(
    env: Env,
    project: ProjectOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (else stdout).")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="flagd.")] = "flagd",
    url: Url = None,
) -> None:
    """The flag set as a flagd flag-definition file, for flagd or any OpenFeature tool."""
    with client(url) as api:
        document = api.get(f"{_base(api, project, env)}/export?format={format}")
    text = json.dumps(document, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    # Written whole or not at all: a half-written file would be read by flagd as broken.
    partial = output.with_name(f".{output.name}.partial")
    partial.write_text(text)
    partial.replace(output)
    say(f"wrote {len(document.get('flags', {}))} flag(s) to {output}")


@tokens.command("create")
def create_token(
    env: Env,
    project: ProjectOption = None,
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "",
    url: Url = None,
    as_json: Json = False,
) -> None:
    """A client token for the environment's SDKs, shown this once."""
    with client(url) as api:
        created = api.post(f"{_base(api, project, env)}/tokens", {"name": name})
    if as_json:
        emit_json(created)
        return
    typer.echo(created["token"])
    say(
        f"token #{created['id']} for {created['environment']} of {created['project']}; "
        "it is shown this once: keep it in the service's secrets"
    )


@tokens.command("list")
def list_tokens(
    env: Env, project: ProjectOption = None, url: Url = None, as_json: Json = False
) -> None:
    """The environment's client tokens (never the tokens themselves)."""
    with client(url) as api:
        found = api.get(f"{_base(api, project, env)}/tokens")
    if as_json:
        emit_json(found)
        return
    for token in found:
        state = "revoked" if token.get("revoked_at") else "active"
        used = token.get("last_used_at") or "never"
        say(f"#{token['id']}  {token.get('name') or '-':<20} {state:<8} last used {used}")


@tokens.command("revoke")
def revoke_token(
    token_id: Annotated[int, typer.Argument(help="The token's number.")],
    env: Env,
    project: ProjectOption = None,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Revoke a client token: SDKs that use it are refused from now on."""
    with client(url) as api:
        revoked = api.delete(f"{_base(api, project, env)}/tokens/{token_id}")
    if as_json:
        emit_json(revoked)
    else:
        say(f"token #{revoked['id']} revoked")
