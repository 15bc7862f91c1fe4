"""``andon whoami``, ``andon token create|list|revoke`` and ``andon user add|list|role``:
who the CLI signs in as, the API tokens people and scripts sign in with (shown once, when
made), and the roles people hold per project (``*``: every project).

The CLI sends ``ANDON_TOKEN``, else the token the server's first start wrote to
``ANDON_HOME/token``; see :func:`andon.cli._client.api_token`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlencode

import typer

from andon.cli._common import Json, Url, client
from andon.cli._output import console, emit_json, note, say, when
from andon.cli._output import table as output_table
from andon.errors import UsageError

tokens = typer.Typer(help="API tokens: what people and scripts sign in with.", no_args_is_help=True)
users = typer.Typer(help="Users and their roles per project.", no_args_is_help=True)

EVERY_PROJECT = "*"


class RoleName(StrEnum):
    """The roles the server knows, from least to most; each may do what those before may."""

    VIEWER = "viewer"
    DEPLOYER = "deployer"
    ADMIN = "admin"


class RoleOrNone(StrEnum):
    """A role to give, or ``none`` to take the user's role in the project away."""

    VIEWER = "viewer"
    DEPLOYER = "deployer"
    ADMIN = "admin"
    NONE = "none"


UserName = Annotated[str, typer.Argument(help="The user's name.", show_default=False)]
GrantProject = Annotated[
    str, typer.Option("--project", "-p", help="The project the role holds in (* is every one).")
]


def roles_text(roles: dict[str, str]) -> str:
    """``admin on every project, deployer on shop``; ``no role`` when there is none."""
    if not roles:
        return "no role"
    return ", ".join(
        f"{role} on {'every project' if project == EVERY_PROJECT else project}"
        for project, role in sorted(roles.items())
    )


# -- who am I ---------------------------------------------------------------------------


def whoami(url: Url = None, as_json: Json = False) -> None:
    """The user this CLI signs in as, their roles, and the token it sends."""
    with client(url) as api:
        me = api.get("/whoami")
    if as_json:
        emit_json(me)
        return
    token = me["token"]
    expires = f"expires {when(token['expires_at'])}" if token["expires_at"] else "never expires"
    say(f"{me['name']}: {roles_text(me['roles'])}")
    say(f"token #{token['id']} ({token['name']}), {token['state']}, {expires}")


# -- API tokens ---------------------------------------------------------------------------


@tokens.command("create")
def create_token(
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "cli",
    user: Annotated[
        str | None, typer.Option("--user", help="Whose token (admins: another user's).")
    ] = None,
    expires_in: Annotated[
        str | None,
        typer.Option("--expires-in", help="How long it lasts, e.g. 30d (else it never expires)."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the token, for scripts.")
    ] = False,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Make an API token; it is printed this once, on a line of its own, and never again."""
    body = {"name": name, "user": user, "expires_in": expires_in}
    with client(url) as api:
        created = api.post("/tokens", body)
    if as_json:
        emit_json(created)
        return
    typer.echo(created["token"])
    if quiet:
        return
    expires = f"expires {when(created['expires_at'])}" if created["expires_at"] else "no expiry"
    say(
        f"token #{created['id']} ({created['name']}) of {created['user']}, {expires}; "
        "it will not be shown again: keep it now (scripts send it as ANDON_TOKEN)"
    )


@tokens.command("list")
def list_tokens(
    user: Annotated[
        str | None, typer.Option("--user", help="Another user's tokens (admins).")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every user's tokens (admins).")] = False,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Your tokens, or another user's, or everyone's (never the tokens themselves)."""
    if user and every:
        raise UsageError("give --user U or --all, not both.")
    query = "?all=true" if every else (f"?{urlencode({'user': user})}" if user else "")
    with client(url) as api:
        found = api.get(f"/tokens{query}")
    if as_json:
        emit_json(found)
        return
    if not found:
        note("No tokens; 'andon token create' makes one.")
        return
    table = output_table("ID", "NAME", "USER", "STATE", "CREATED", "EXPIRES", "LAST USED")
    for token in found:
        table.add_row(
            str(token["id"]),
            token["name"],
            token["user"],
            token["state"],
            when(token["created_at"]),
            when(token["expires_at"], "never"),
            when(token["last_used_at"], "never"),
        )
    console.print(table)


@tokens.command("revoke")
def revoke_token(
    token_id: Annotated[int, typer.Argument(help="The token's number (see 'andon token list').")],
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Revoke a token (yours, or anyone's for admins); it stops working within a second."""
    with client(url) as api:
        revoked = api.delete(f"/tokens/{token_id}")
    if as_json:
        emit_json(revoked)
        return
    say(f"token #{revoked['id']} ({revoked['name']}) of {revoked['user']} revoked")


# -- users and roles ----------------------------------------------------------------------


@users.command("add")
def add_user(
    name: UserName,
    role: Annotated[RoleName, typer.Option("--role", help="Their first role.")] = RoleName.VIEWER,
    project: GrantProject = EVERY_PROJECT,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Add a user with a role; 'andon token create --user NAME' then makes their token."""
    with client(url) as api:
        user = api.post("/users", {"name": name, "role": role.value, "project": project})
    if as_json:
        emit_json(user)
        return
    say(f"added {user['name']}: {roles_text(user['roles'])}")
    note(f"'andon token create --user {user['name']}' makes a token for them.")


@users.command("list")
def list_users(url: Url = None, as_json: Json = False) -> None:
    """Every user with their roles."""
    with client(url) as api:
        found = api.get("/users")
    if as_json:
        emit_json(found)
        return
    table = output_table("NAME", "ROLES", "CREATED", "BY")
    for user in found:
        table.add_row(
            user["name"], roles_text(user["roles"]), when(user["created_at"]), user["created_by"]
        )
    console.print(table)


@users.command("role")
def set_role(
    name: UserName,
    role: Annotated[
        RoleOrNone,
        typer.Argument(help="The role to give, or none to take theirs away.", show_default=False),
    ],
    project: GrantProject = EVERY_PROJECT,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Give a user a role in a project (or every project), or take it away with none."""
    given: str | None = None if role is RoleOrNone.NONE else role.value
    with client(url) as api:
        user: dict[str, Any] = api.post(f"/users/{name}/role", {"role": given, "project": project})
    if as_json:
        emit_json(user)
        return
    where = "every project" if project == EVERY_PROJECT else project
    done = f"is now {given} on {where}" if given else f"no longer has a role on {where}"
    say(f"{user['name']} {done}; roles: {roles_text(user['roles'])}")
