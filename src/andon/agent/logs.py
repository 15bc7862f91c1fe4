"""Instance logs: one file per instance, ``STATE_DIR/logs/<instance>.log``, which the
instance writes straight into (opened for append), so that it never waits for the agent and
keeps logging while the agent is down. The supervisor rotates it by copy-and-truncate (the
instance keeps its file open) and reads its tail for the admin API and crash reports.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_KEEP = 3
_TAIL_CHUNK = 64 * 1024


class InstanceLog:
    """The log file of one instance and its rotated predecessors (``.1`` is the newest)."""

    def __init__(
        self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, keep: int = DEFAULT_KEEP
    ) -> None:
        if keep < 1:
            raise ValueError("keep at least one rotated log")
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep

    def rotated(self, number: int) -> Path:
        """The ``number``-th rotated file (1 is the newest)."""
        return self.path.with_name(f"{self.path.name}.{number}")

    def note(self, text: str) -> None:
        """Append a line from the agent itself (a start, an exit), marked as such."""
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as log:
            log.write(f"--- andon agent {stamp}: {text}\n".encode())

    def rotate_if_needed(self) -> bool:
        """Rotate when the file has grown past ``max_bytes``; True when it did."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return False
        if size < self.max_bytes:
            return False
        self.rotate()
        return True

    def rotate(self) -> None:
        """Shift ``.1`` … to ``.2`` …, copy the file to ``.1`` and truncate it.

        The instance holds the file open with O_APPEND, so after the truncation its next
        write lands at the new start. Lines written between the copy's last read and the
        truncation are lost; renaming instead would lose nothing, but the instance would
        go on writing into the renamed file for ever.
        """
        self.rotated(self.keep).unlink(missing_ok=True)
        for number in range(self.keep - 1, 0, -1):
            older = self.rotated(number)
            if older.exists():
                older.replace(self.rotated(number + 1))
        with open(self.path, "r+b") as current, open(self.rotated(1), "wb") as copy:
            shutil.copyfileobj(current, copy)
            current.truncate(0)

    def tail(self, lines: int) -> list[str]:
        """The last ``lines`` lines, reaching into the newest rotated file if need be."""
        if lines <= 0:
            return []
        found = _last_lines(self.path, lines)
        if len(found) < lines:
            found = _last_lines(self.rotated(1), lines - len(found)) + found
        return found


def _last_lines(path: Path, count: int) -> list[str]:
    """The last ``count`` lines of ``path`` (none when it does not exist)."""
    try:
        with open(path, "rb") as log:
            end = log.seek(0, os.SEEK_END)
            start = end
            data = b""
            # Read backwards in chunks until enough newlines are in hand.
            while start > 0 and data.count(b"\n") <= count:
                start = max(0, start - _TAIL_CHUNK)
                log.seek(start)
                data = log.read(end - start)
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace")
    found = text.splitlines()
    if start > 0 and found:
        # The first line read may be the end of a longer one.
        found = found[1:]
    return found[-count:]
