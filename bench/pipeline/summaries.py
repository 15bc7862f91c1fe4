"""Summaries of repeated measurements (median, p90), the rows of the results table with their
verdicts against the goals, and the machine they were taken on: what ``run.py`` prints as a
table or as JSON."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values``, interpolated linearly between the two
    nearest ranks (numpy's default), so that five samples still give a p90."""
    if not values:
        raise ValueError("no values to summarize")
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Summary:
    median: float
    p90: float
    samples: list[float]

    def to_dict(self) -> dict[str, Any]:
        return {"median": self.median, "p90": self.p90, "samples": self.samples}


def summarize(values: Sequence[float]) -> Summary:
    return Summary(statistics.median(values), percentile(values, 0.9), list(values))


def describe_machine() -> dict[str, Any]:
    """When and where the figures were taken: UTC time, CPUs, architecture, Python, CPU, and
    how busy the machine was when they started."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
        "system": f"{platform.system()} {platform.release()}",
        "load_before": load_average(),
        "code": _code_version(),
    }


def _code_version() -> str:
    """The commit of andon measured, and whether src/ differs from it."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return (
        f"{commit} with uncommitted changes in src/"
        if git("status", "--porcelain", "src")
        else commit
    )


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


@dataclass(frozen=True)
class Row:
    """One line of the table: a measured figure (``summary``) or a constant (``value``)."""

    key: str
    label: str
    unit: str
    """How to print it: ``s``, ``ms`` (stored in seconds either way) or ``x`` (a ratio)."""
    summary: Summary | None = None
    value: float | None = None
    goal: float | None = None
    """The goal's upper bound, in seconds; None for a figure with no goal."""
    note: str = ""

    def verdict(self) -> str:
        if self.goal is None or self.summary is None:
            return ""
        if self.summary.p90 <= self.goal:
            return "met"
        if self.summary.median <= self.goal:
            return "met at median, not at p90"
        return "NOT MET"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"label": self.label.strip(), "unit": self.unit, "note": self.note}
        if self.summary is not None:
            data.update(self.summary.to_dict())
        if self.value is not None:
            data["value"] = self.value
        if self.goal is not None:
            data["goal_max"] = self.goal
            data["verdict"] = self.verdict()
        return data


_FORMATS: dict[str, Callable[[float], str]] = {
    "s": lambda seconds: f"{seconds:.2f} s",
    "ms": lambda seconds: f"{seconds * 1000:.1f} ms",
    "x": lambda ratio: f"{ratio:.2f}x",
}


def _loads(values: list[float]) -> str:
    return "/".join(f"{value:.2f}" for value in values) or "unknown"


def render_table(rows: list[Row], machine: dict[str, Any], settings: dict[str, Any]) -> str:
    lines = [
        f"Andon pipeline benchmarks, {machine['date']}, andon {machine['code']}",
        f"machine: {machine['cpus']} x {machine['cpu_model']} ({machine['arch']}), "
        f"{machine['system']}, Python {machine['python']}",
        f"run: concurrency {settings['concurrency']}, {settings['repeat']} rounds of the DAG "
        f"after a warm-up, {settings['shop_repeat']} of the shop; load average "
        f"{_loads(machine['load_before'])} before, {_loads(machine['load_after'])} after",
        "",
    ]
    width = max(len(row.label) for row in rows)
    lines.append(f"{'figure':<{width}}  {'median':>10}  {'p90':>10}  {'goal':>11}  verdict / note")
    for row in rows:
        show = _FORMATS[row.unit]
        if row.summary is not None:
            median, p90 = show(row.summary.median), show(row.summary.p90)
        else:
            median, p90 = show(row.value or 0.0), "-"
        goal = f"<= {show(row.goal)}" if row.goal is not None else ""
        notes = ", ".join(part for part in (row.verdict(), row.note) if part)
        lines.append(f"{row.label:<{width}}  {median:>10}  {p90:>10}  {goal:>11}  {notes}")
    return "\n".join(lines)
