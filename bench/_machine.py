"""What a benchmark's figures were taken on and with: the time, the code's commit, the
CPUs, memory and system, and the load, which skews every figure on a shared machine.
``python -m bench`` writes it above each rewritten table."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def load() -> str:
    """The 1, 5 and 15 minute load averages, as ``0.97 / 0.80 / 0.71``."""
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def code() -> str:
    """The commit measured, and whether ``src/`` differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--", "src")
    return f"`{commit}`" + (" with uncommitted changes in `src/`" if changed else "")


def machine() -> str:
    """CPUs, their model, memory, system and Python, in one phrase."""
    cpus = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    cores = f"{cpus} CPUs" + (f" ({usable} usable here)" if usable != cpus else "")
    return (
        f"{cores}, {_cpu_model()} ({platform.machine()}), {_memory()}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    names = {
        line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")
    }
    return " + ".join(sorted(names)) or "unknown CPU"


def _memory() -> str:
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        total = int(fields["MemTotal"].split()[0]) / 1024**2
        available = int(fields["MemAvailable"].split()[0]) / 1024**2
    except (OSError, KeyError, ValueError):
        return "memory unknown"
    return f"{total:.1f} GiB of memory ({available:.1f} GiB available at the start)"
