"""Instance logs: rotated by copy-and-truncate while the instance keeps writing into the
same open file, never waiting for anyone, and read back from the end."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from andon.agent import InstanceLog

# Writes numbered lines as fast as it can, into the file it was given as stdout.
CHATTY = (
    "import sys, itertools\n"
    "for n in itertools.count():\n"
    "    sys.stdout.write(f'line {n:08d} ' + 'x' * 80 + '\\n')\n"
    "    sys.stdout.flush()\n"
)


def test_rotation_keeps_the_newest_files_and_truncates_the_current_one(tmp_path: Path) -> None:
    log = InstanceLog(tmp_path / "web.log", max_bytes=10, keep=2)
    for generation in range(4):
        log.path.write_text(f"generation {generation}\n")
        assert log.rotate_if_needed()
    assert log.path.read_text() == ""
    assert log.rotated(1).read_text() == "generation 3\n"
    assert log.rotated(2).read_text() == "generation 2\n"
    assert not log.rotated(3).exists()


def test_a_small_log_is_not_rotated(tmp_path: Path) -> None:
    log = InstanceLog(tmp_path / "web.log", max_bytes=1024)
    log.path.write_text("short\n")
    assert not log.rotate_if_needed()
    assert not InstanceLog(tmp_path / "missing.log").rotate_if_needed()


def test_a_process_writing_into_its_log_keeps_writing_at_the_start_after_rotation(
    tmp_path: Path,
) -> None:
    log = InstanceLog(tmp_path / "chatty.log", max_bytes=64 * 1024, keep=3)
    with open(log.path, "ab") as output:
        writer = subprocess.Popen([sys.executable, "-c", CHATTY], stdout=output)
    try:
        rotations = 0
        deadline = time.monotonic() + 10
        while rotations < 4 and time.monotonic() < deadline:
            rotations += log.rotate_if_needed()
            time.sleep(0.01)
        assert rotations == 4
        assert writer.poll() is None, "the writer must never block or die on rotation"
        time.sleep(0.05)
        # O_APPEND: after truncation, writes land at the new start, not at the old offset
        # (which would leave a hole of NUL bytes).
        assert not log.path.read_bytes().startswith(b"\0")
        assert log.path.read_bytes().startswith(b"line ")
        assert [log.rotated(n).exists() for n in (1, 2, 3, 4)] == [True, True, True, False]
    finally:
        writer.kill()
        writer.wait()
    lines = log.tail(5)
    assert len(lines) == 5
    numbers = [int(line.split()[1]) for line in lines]
    assert numbers == sorted(numbers)


def test_tail_reads_the_last_lines_and_reaches_into_the_rotated_file(tmp_path: Path) -> None:
    log = InstanceLog(tmp_path / "web.log")
    log.rotated(1).write_text("".join(f"old {n}\n" for n in range(3)))
    log.path.write_text("new 0\nnew 1\n")
    assert log.tail(2) == ["new 0", "new 1"]
    assert log.tail(4) == ["old 1", "old 2", "new 0", "new 1"]
    assert log.tail(0) == []


def test_tail_of_a_long_log_reads_only_its_end(tmp_path: Path) -> None:
    log = InstanceLog(tmp_path / "web.log")
    log.path.write_text("".join(f"{n}\n" for n in range(200_000)))
    assert log.tail(3) == ["199997", "199998", "199999"]


def test_agent_notes_are_marked(tmp_path: Path) -> None:
    log = InstanceLog(tmp_path / "logs" / "web.log")
    log.note("starting version 1 on port 8080")
    (line,) = log.tail(1)
    assert line.startswith("--- andon agent ")
    assert line.endswith(": starting version 1 on port 8080")
