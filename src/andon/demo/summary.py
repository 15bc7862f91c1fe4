"""Step 8 of the demo: what happened. A table of the steps with their times and what each
showed, then DORA's metrics of the run's deployments to prod, as the server computes
them (``GET /api/v1/projects/shop/dora``) and ``andon dora`` prints them.

:func:`summary_table` and :func:`summary_document` are pure; the CLI hands in the DORA
printer (``andon.cli.dora.show_report``), which this layer may not import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.table import Table

from andon.demo.api import DemoApi, RefusedError
from andon.demo.progress import StepRecord
from andon.demo.story import PROJECT

DoraPrinter = Callable[[dict[str, Any]], None]
"""Prints a DORA report (the API's JSON) as ``andon dora`` does."""


def summary_table(steps: Sequence[StepRecord], total: int) -> Table:
    """One row per step: its number, title, when it began, how long it took and what it
    showed. No side effects."""
    table = Table(box=None, pad_edge=False, padding=(0, 1), show_edge=False)
    table.add_column("step", justify="right", style="bold")
    table.add_column("", overflow="fold")
    table.add_column("at", justify="right", style="dim")
    table.add_column("took", justify="right")
    for record in steps:
        number = f"{record.number}/{total}" if record.number else "setup"
        if record.failed:
            took = "failed"
        elif record.seconds is None:
            took = "…"
        else:
            took = f"{record.seconds:.1f}s"
        what = record.title + "".join(f"\n  {fact}" for fact in record.facts)
        table.add_row(number, what, f"{record.started:.0f}s", took)
    return table


def fetch_dora(api: DemoApi) -> tuple[dict[str, Any] | None, str]:
    """The DORA report of the run's deployments to prod, or None with the reason."""
    try:
        report = api.get(f"/projects/{PROJECT}/dora?environment=prod&since=1h")
    except RefusedError as exc:
        return None, exc.message
    return (report, "") if isinstance(report, dict) else (None, "it answered no report")


def summary_document(
    steps: Sequence[StepRecord], dora: dict[str, Any] | None, seconds: float
) -> dict[str, Any]:
    """The summary as JSON-able values (``andon demo --json``). No side effects."""
    return {
        "seconds": round(seconds, 1),
        "steps": [
            {
                "number": record.number,
                "title": record.title,
                "started": round(record.started, 1),
                "seconds": None if record.seconds is None else round(record.seconds, 1),
                "failed": record.failed,
                "facts": list(record.facts),
            }
            for record in steps
        ],
        "dora": dora,
    }
