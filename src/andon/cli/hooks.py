"""``andon hooks install|notify``: git hooks that tell the server about new commits at
once, instead of at its next look at trunk."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from andon.cli._client import server_url
from andon.cli._common import Url, client
from andon.cli._output import say
from andon.errors import ConflictError, NotFoundError
from andon.settings import Settings

app = typer.Typer(help="Git hooks that notify the server of new commits.", no_args_is_help=True)

MARKER = "# andon: notifies the Andon server of new commits"


def _hook_text(kind: str, repo: Path, url: str) -> str:
    python = shlex.quote(sys.executable)
    notify = (
        f"ANDON_URL={shlex.quote(url)} {python} -m andon hooks notify "
        f"--source {shlex.quote(str(repo))}"
    )
    # Hooks must never slow down or fail a commit: run in the background, silently.
    if kind == "post-receive":
        body = (
            "while read -r old new ref; do\n"
            f'  ({notify} --ref "$ref" --commit "$new" >/dev/null 2>&1 &)\n'
            "done\n"
        )
    else:
        body = (
            f'({notify} --ref "$(git symbolic-ref -q HEAD)" --commit "$(git rev-parse HEAD)" '
            ">/dev/null 2>&1 &)\n"
        )
    return f"#!/bin/sh\n{MARKER} (written by 'andon hooks install').\n{body}"


@app.command("install")
def install(
    repo: Annotated[Path, typer.Argument(help="The repository.")] = Path("."),
    force: Annotated[
        bool, typer.Option("--force", help="Replace hooks Andon did not write.")
    ] = False,
    url: Url = None,
) -> None:
    """Write post-commit and post-receive hooks that notify the server at once."""
    try:
        hooks = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--git-path", "hooks"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        top = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        raise NotFoundError(f"{repo} is not a git repository.") from None
    hooks_dir = Path(hooks) if Path(hooks).is_absolute() else (repo / hooks)
    source = Path(top).resolve() if top else repo.resolve()
    address = server_url(url, Settings.from_env())
    hooks_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in ("post-commit", "post-receive"):
        path = hooks_dir / kind
        if path.exists() and MARKER not in path.read_text(errors="replace") and not force:
            raise ConflictError(
                f"{path} exists and was not written by Andon; pass --force to replace it."
            )
        path.write_text(_hook_text(kind, source, address))
        path.chmod(0o755)
        written.append(kind)
    kinds = " and ".join(written)
    say(f"Installed {kinds} hooks in {hooks_dir}; commits now reach {address} at once.")


@app.command("notify", hidden=True)
def notify(
    source: Annotated[str, typer.Option(help="The repository's path.")],
    ref: Annotated[str, typer.Option(help="The ref that moved.")] = "",
    commit: Annotated[str, typer.Option(help="The new commit.")] = "",
    url: Url = None,
) -> None:
    """Tell the server about a commit (what the installed hooks run)."""
    with client(url) as api:
        api.post("/hooks/local", {"source": source, "ref": ref or None, "commit": commit or None})
