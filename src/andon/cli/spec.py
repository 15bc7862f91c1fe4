"""``andon validate``, ``andon schema`` and ``andon init``: working with andon.yaml."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from andon.cli._output import emit_json, error_line, say
from andon.errors import ConflictError, SpecError

if TYPE_CHECKING:
    from andon.spec import AndonSpec

# andon.spec (pydantic models) is imported by the commands that use it: every other
# command of the CLI starts without paying for it.


def _plural(count: int, noun: str) -> str:
    suffix = "es" if noun.endswith("s") else "s"
    return f"{count} {noun}{'' if count == 1 else suffix}"


def summary(spec: AndonSpec) -> str:
    """One line on what a valid andon.yaml declares."""
    parts = [
        _plural(len(spec.processes), "process"),
        _plural(len(spec.all_jobs()), "job"),
        _plural(len(spec.environments), "environment"),
        f"{spec.release.strategy.value} release",
        _plural(len(spec.flags.flags), "flag"),
    ]
    return f"service {spec.service.name}: {', '.join(parts)}"


def validate(
    path: Annotated[Path, typer.Argument(help="The file, or the directory that holds it.")] = Path(
        "andon.yaml"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check an andon.yaml and report every problem with its line and column."""
    try:
        from andon.spec import load_spec

        spec = load_spec(path)
    except SpecError as exc:
        if as_json:
            emit_json(
                {
                    "valid": False,
                    "path": str(path),
                    "problems": [problem.to_dict() for problem in exc.problems],
                }
            )
        else:
            for line in exc.lines():
                say(line)
            error_line(exc.message)
        raise typer.Exit(1) from None
    if as_json:
        emit_json({"valid": True, "path": str(path), "service": spec.service.name, "problems": []})
    else:
        say(f"{path} is valid: {summary(spec)}.")


def schema(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the reference in Markdown instead.")
    ] = False,
) -> None:
    """Print the JSON Schema (draft 2020-12) of andon.yaml, for editors."""
    if markdown:
        from andon.spec import markdown_reference

        sys.stdout.write(markdown_reference())
        return
    from andon.spec import json_schema

    say(json.dumps(json_schema(), indent=2, sort_keys=True))


def init(
    directory: Annotated[Path, typer.Argument(help="The repository's directory.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented, valid andon.yaml for the repository here."""
    target = directory / "andon.yaml"
    if target.exists() and not force:
        raise ConflictError(f"{target} exists already; pass --force to overwrite it.")
    from andon.spec import parse_spec, starter_spec

    text = starter_spec(directory)
    spec = parse_spec(text, source=str(target))
    partial = target.with_name(".andon.yaml.partial")
    partial.write_text(text, "utf-8")
    partial.replace(target)
    say(f"Wrote {target} for {summary(spec)}; check it with 'andon validate'.")
