"""``andon cli-reference``: docs/cli.md is the CLI's own account of itself."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from andon.cli.reference import REGENERATE, markdown_reference

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


class Colour(Enum):
    RED = "red"
    GREEN = "green"


def _small_cli() -> TyperGroup:
    """A CLI with one of each kind of parameter, a sub-group and hidden parts."""
    tins = Path.home() / "tins"
    app = typer.Typer(help="A small tool.", add_completion=False)
    paint = typer.Typer(help="Paint | colour things.")
    app.add_typer(paint, name="paint")

    @paint.command()
    def wall(
        wall: Annotated[str, typer.Argument(help="Which wall.")],
        colour: Annotated[Colour, typer.Option(help="The <colour> to use.")] = Colour.RED,
        coats: Annotated[int, typer.Option(min=1, max=5, help="How many.")] = 2,
        dry: Annotated[bool, typer.Option("--dry/--wet", help="Dry paint.")] = True,
        store: Annotated[Path, typer.Option(help="Where the tins are.")] = tins,
        secret: Annotated[str, typer.Option(hidden=True)] = "",
    ) -> None:
        """Paint a wall.

        Then let it dry.
        """

    @paint.command(hidden=True)
    def ceiling() -> None:
        """Not for everyone."""

    command = typer.main.get_command(app)
    assert isinstance(command, TyperGroup)
    return command


def test_the_cli_page_is_the_generated_one(tmp_path: Path) -> None:
    # Another home, a narrow terminal and colours asked for: none may change the page.
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "ANDON_HOME": str(tmp_path / "andon"),
        "COLUMNS": "30",
        "FORCE_COLOR": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "andon", "cli-reference"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert PAGE.read_text("utf-8") == result.stdout, f"docs/cli.md is stale; run: {REGENERATE}"


def test_every_link_of_the_page_leads_to_a_heading() -> None:
    page = PAGE.read_text("utf-8")
    headings = {
        re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        for title in re.findall(r"^#+ (.+)$", page, flags=re.MULTILINE)
    }
    links = set(re.findall(r"\]\(#([^)]+)\)", page))
    assert links and links <= headings, f"links without a heading: {sorted(links - headings)}"


def test_a_command_shows_its_usage_help_arguments_and_options() -> None:
    page = markdown_reference(_small_cli())
    usage = "```\nandon paint wall [OPTIONS] {wall}\n```\n"
    assert f"{usage}\nPaint a wall.\n\nThen let it dry.\n" in page
    assert "| `wall` | text | required | Which wall. |" in page
    assert "| `--colour` | one of `red`, `green` | `red` | The \\<colour> to use. |" in page
    assert "| `--coats` | integer, 1 to 5 | `2` | How many. |" in page
    assert "| `--dry` / `--wet` | flag | `--dry` | Dry paint. |" in page


def test_a_group_lists_its_commands_in_a_table_and_the_contents() -> None:
    page = markdown_reference(_small_cli())
    assert "  - [`andon paint wall`](#andon-paint-wall)" in page
    assert "| [`wall`](#andon-paint-wall) | Paint a wall. |" in page
    # A pipe in prose would otherwise end the table's cell.
    assert "| [`paint`](#andon-paint) | Paint \\| colour things. |" in page


def test_hidden_commands_and_options_are_left_out() -> None:
    page = markdown_reference(_small_cli())
    assert "ceiling" not in page
    assert "--secret" not in page


def test_a_default_under_the_home_directory_is_written_with_a_tilde() -> None:
    page = markdown_reference(_small_cli())
    assert "| `--store` | path | `~/tins` |" in page
    assert str(Path.home()) not in page
