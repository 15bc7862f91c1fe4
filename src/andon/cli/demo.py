"""``andon demo``: the whole value stream, played on this machine in a few minutes."""

from __future__ import annotations

from typing import Annotated

import typer

from andon.cli import _output
from andon.cli._output import emit_json, say
from andon.errors import UsageError


def demo(
    keep: Annotated[
        bool,
        typer.Option("--keep", help="Leave it all running at the end; print the URL and token."),
    ] = False,
    speed: Annotated[
        float,
        typer.Option("--speed", help="Above 1, the demo's observation windows are shorter."),
    ] = 1.0,
    fast: Annotated[bool, typer.Option("--fast", help="Same as --speed 2.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Progress on stderr, the summary as JSON on stdout.")
    ] = False,
) -> None:
    """Play the whole value stream on this machine, in a private Andon of its own.

    A temporary ANDON_HOME and free ports; a git repository of examples/shop; then a
    commit down the line, a blue-green release under synthetic shoppers, a defect rolled
    back by the immune system, its fix through a canary, a dark launch and an A/B
    experiment, a dependency guard, the andon cord, and DORA's metrics of it all. Your own
    ANDON_HOME and running Andon are not touched; everything the demo starts is stopped at
    the end unless --keep.
    """
    from rich.console import Console

    from andon.cli.dora import show_report
    from andon.demo import DemoOptions, play

    if not 0.1 <= speed <= 10:
        raise UsageError(f"--speed must be between 0.1 and 10, not {speed:g}.")
    console = Console(stderr=as_json, highlight=False, soft_wrap=True)
    if not console.is_terminal:
        # Piped into a file or a CI log: tables as wide as a terminal's, not 80 columns.
        console.width = _output.console.width = max(console.width, 120)
    options = DemoOptions(keep=keep, speed=speed * 2 if fast else speed)
    result = play(options, console, show_dora=None if as_json else show_report)
    if as_json:
        emit_json(result.to_dict())
        return
    if result.kept:
        kept = result.kept
        say("")
        say(f"Andon keeps running. Dashboard: {kept['dashboard']}  (sign in with the token)")
        say(f"Token: {kept['token']}")
        say(f"Prod (the shop): {kept['prod']}")
        say(f"To use the CLI with it: export ANDON_HOME={kept['home']}")
        say(
            f"To stop it all: ANDON_HOME={kept['home']} andon env down prod; "
            f"ANDON_HOME={kept['home']} andon env down test; ANDON_HOME={kept['home']} "
            f"andon stop; rm -rf {kept['home']}"
        )
