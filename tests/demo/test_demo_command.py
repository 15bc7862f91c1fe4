"""``andon demo`` refuses a speed it cannot play at in one line, before starting anything."""

from __future__ import annotations

import subprocess
import sys


def test_a_speed_out_of_range_is_one_line_and_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "andon", "demo", "--speed", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.strip() == "error: --speed must be between 0.1 and 10, not 0."
    assert done.stdout == ""
