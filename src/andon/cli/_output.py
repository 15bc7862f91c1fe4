"""How the CLI speaks: results on stdout, one-line errors on stderr, JSON on request.

Errors are printed without wrapping so that each stays one line whatever the terminal.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(soft_wrap=True, highlight=False)
errors = Console(stderr=True, soft_wrap=True, highlight=False)


def say(text: str) -> None:
    """A line of normal output."""
    console.print(text, markup=False)


def note(text: str) -> None:
    """A line of progress or context, on stderr so that stdout stays parseable."""
    errors.print(text, markup=False, style="dim")


def error_line(text: str) -> None:
    """The one line that says what went wrong and what to do."""
    print(f"error: {text}", file=sys.stderr, flush=True)


def emit_json(data: Any) -> None:
    """``--json`` output: stable keys, ISO dates, newline at the end."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def table(*columns: str) -> Table:
    """A plain table (no box) with these column headings, rows to add."""
    made = Table(box=None, pad_edge=False)
    for column in columns:
        made.add_column(column)
    return made


def when(value: str | None, empty: str = "-") -> str:
    """An ISO time as ``2026-05-01 12:00`` (UTC), or ``empty``."""
    return value[:16].replace("T", " ") if value else empty
