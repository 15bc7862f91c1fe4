"""Running the real ``andon`` command in a test, as a user runs it: its own process, no
terminal, a wide screen so that tables do not wrap; and what a test asks of the result —
success with its output, or a refusal of exactly one ``error:`` line and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

__all__ = ["andon", "refusal", "stdout_of"]


def andon(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``andon ARGS...`` run to its end."""
    return subprocess.run(
        [sys.executable, "-m", "andon", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
        stdin=subprocess.DEVNULL,
    )


def stdout_of(result: subprocess.CompletedProcess[str]) -> str:
    """The output of a command that must have succeeded."""
    if result.returncode != 0:
        raise AssertionError(
            f"{result.args[3:]} exited {result.returncode}: {result.stdout}{result.stderr}"
        )
    return result.stdout


def refusal(result: subprocess.CompletedProcess[str], code: int | None = None) -> str:
    """The one ``error:`` line of a command that must have been refused (exit ``code``,
    or any non-zero), with no traceback."""
    failed = result.returncode != 0 if code is None else result.returncode == code
    lines = result.stderr.strip().splitlines()
    if (
        not failed
        or "Traceback" in result.stdout + result.stderr
        or len(lines) != 1
        or not lines[0].startswith("error: ")
    ):
        raise AssertionError(
            f"{result.args[3:]} exited {result.returncode}, expected one error line: "
            f"{result.stdout}{result.stderr}"
        )
    return lines[0]
