"""The ``andon`` command: a client of the server's HTTP API, plus the commands that work
on local files (validate, schema, init) and run the control plane.

:func:`main` is the console script; it turns every Andon error into one line on stderr
and a non-zero exit, and never shows a traceback unless ``ANDON_DEBUG`` is set.
"""

from __future__ import annotations

import os
import sys

import typer

from andon import __version__
from andon.cli import (
    _output,
    access,
    agent,
    artifacts,
    audit,
    control_plane,
    demo,
    dora,
    environments,
    experiments,
    flags,
    flow,
    freezes,
    hooks,
    line,
    logs,
    pipelines,
    projects,
    reference,
    rollouts,
    secrets,
    spec,
    tests,
)
from andon.errors import AndonError, SpecError

__all__ = ["app", "main"]

app = typer.Typer(
    name="andon",
    help="Andon: continuous delivery from a commit on trunk to customers, safely.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"andon {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Andon: continuous delivery from a commit on trunk to customers, safely."""


app.command()(spec.validate)
app.command()(spec.schema)
app.command()(spec.init)
app.command("cli-reference")(reference.cli_reference)
app.command()(control_plane.server)
app.command()(control_plane.start)
app.command()(control_plane.stop)
app.command()(control_plane.status)
app.command()(agent.agent)
app.add_typer(projects.app, name="project")
app.add_typer(pipelines.app, name="pipeline")
app.add_typer(artifacts.app, name="artifact")
app.add_typer(line.app, name="line")
app.command()(flow.flow)
app.command()(dora.dora)
app.command()(demo.demo)
app.add_typer(tests.app, name="tests")
app.add_typer(hooks.app, name="hooks")
app.add_typer(environments.app, name="env")
app.add_typer(secrets.app, name="secret")
app.command()(rollouts.deploy)
app.add_typer(rollouts.app, name="rollout")
app.add_typer(freezes.app, name="freeze")
app.add_typer(flags.app, name="flags")
app.add_typer(experiments.app, name="experiment")
app.command()(logs.logs)
app.command()(access.whoami)
app.add_typer(access.users, name="user")
app.add_typer(access.tokens, name="token")
app.add_typer(audit.app, name="audit")


def main() -> None:
    """Run the CLI; exit with the error's code and a one-line message on failure."""
    try:
        app()
    except SpecError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        _output.error_line(exc.message)
        sys.exit(exc.exit_code)
    except AndonError as exc:
        _output.error_line(exc.message)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _output.error_line("interrupted.")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("ANDON_DEBUG"):
            raise
        _output.error_line(
            f"unexpected {type(exc).__name__}: {exc}; rerun with ANDON_DEBUG=1 for details."
        )
        sys.exit(70)
