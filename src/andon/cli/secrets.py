"""``andon secret set|list|remove``: the secrets of an environment. A value is read from
stdin (typed without echo at a terminal, or piped), never from the command line where
the shell's history and ``ps`` would keep it, and is never printed back."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from andon.cli._common import Json, ProjectOption, Url, client, resolve_project
from andon.cli._output import emit_json, note, say
from andon.errors import UsageError

app = typer.Typer(help="Set, list and remove the secrets of environments.", no_args_is_help=True)

Environment = Annotated[str, typer.Argument(help="The environment.", show_default=False)]
SecretName = Annotated[
    str, typer.Argument(help="The secret's name, as andon.yaml declares it.", show_default=False)
]


@app.command("set")
def set_(
    environment: Environment,
    name: SecretName,
    project: ProjectOption = None,
    url: Url = None,
) -> None:
    """Set a secret from stdin; it reaches the environment at its next deploy."""
    value = _read_value(environment, name)
    with client(url) as api:
        slug = resolve_project(api, project)
        api.put(f"/projects/{slug}/environments/{environment}/secrets/{name}", {"value": value})
    say(f"Set secret {name} of {slug}/{environment}.")
    note(
        f"It reaches the environment when it is next deployed: 'andon env recreate {environment}'."
    )


@app.command("list")
def list_(
    environment: Environment,
    project: ProjectOption = None,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """The names of an environment's secrets (never their values)."""
    with client(url) as api:
        slug = resolve_project(api, project)
        found = api.get(f"/projects/{slug}/environments/{environment}/secrets")
    if as_json:
        emit_json(found)
        return
    for secret in found["names"]:
        say(secret)
    if found["missing"]:
        note(f"not set: {', '.join(found['missing'])}")


@app.command("remove")
def remove(
    environment: Environment,
    name: SecretName,
    project: ProjectOption = None,
    url: Url = None,
) -> None:
    """Forget a secret of an environment."""
    with client(url) as api:
        slug = resolve_project(api, project)
        api.delete(f"/projects/{slug}/environments/{environment}/secrets/{name}")
    say(f"Removed secret {name} of {slug}/{environment}.")


def _read_value(environment: str, name: str) -> str:
    if sys.stdin.isatty():
        value = getpass.getpass(f"Value of {name} for {environment} (not shown): ")
    else:
        value = sys.stdin.read()
        # A value piped from echo or a file ends with a newline that is not part of it.
        value = value.removesuffix("\n").removesuffix("\r")
    if not value:
        raise UsageError(
            f"no value for {name} was given on stdin; type it when asked, or pipe it in: "
            f'printf %s "$VALUE" | andon secret set {environment} {name}'
        )
    return value
