"""A job's log: its output written to a file as it arrives, decoded leniently, with secret
values masked and the size capped. The job runner writes through :class:`LogSink`; the API
and the CLI read the file while it grows with :func:`follow_log`."""

from __future__ import annotations

import asyncio
import codecs
import re
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from types import TracebackType

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
MASK = "***"
MIN_SECRET_LENGTH = 3
"""Shorter values are not masked: hiding every ``a`` or ``42`` would make logs unreadable."""

# A line is held back until its newline so that a secret split across two reads is still
# seen whole; past this many characters without one, the line is written in pieces.
_LONGEST_HELD_LINE = 64 * 1024
_READ_SIZE = 1024 * 1024


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value of 3 characters or more replaced by ``***``."""
    return _Masker(secrets)(text)


class _Masker:
    """Replaces secret values; a value of several lines is masked line by line."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {
            line
            for secret in secrets
            for line in secret.splitlines()
            if len(line) >= MIN_SECRET_LENGTH
        }
        # Longest first, so that a secret containing another is masked whole.
        ordered = sorted(values, key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self.longest = len(ordered[0]) if ordered else 0

    def __call__(self, text: str) -> str:
        return self.pattern.sub(MASK, text) if self.pattern is not None else text


class LogSink:
    """Writes one job's output to ``path``: bytes in, masked UTF-8 lines out.

    Bytes that are not UTF-8 become U+FFFD. Once ``max_bytes`` are written, one line says
    the log was truncated and the rest of the output is only counted; the job itself is not
    affected. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self, path: Path, *, secrets: Iterable[str] = (), max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.bytes_written = 0
        self.bytes_discarded = 0
        self.truncated = False
        self.closed = False
        self._mask = _Masker(secrets)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._at_line_start = True
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("wb")

    def write(self, data: bytes) -> None:
        """Take the next piece of output; complete lines are written at once."""
        if self.truncated or self.closed:
            self.bytes_discarded += len(data)
            return
        self._pending += self._decoder.decode(data)
        end = self._pending.rfind("\n") + 1
        if end:
            lines, self._pending = self._pending[:end], self._pending[end:]
            self._emit(self._mask(lines))
        if len(self._pending) > _LONGEST_HELD_LINE and not self.truncated:
            # Mask, then keep back what could be the start of a secret still arriving.
            masked = self._mask(self._pending)
            cut = len(masked) - max(0, self._mask.longest - 1)
            self._pending = masked[cut:]
            self._emit(masked[:cut])

    def note(self, text: str) -> None:
        """Write a line of Andon's own (a retry, a warning); written even past the cap."""
        self._end_line()
        self._write_raw(f"andon: {self._mask(text)}\n".encode())

    def close(self) -> None:
        """Write what is left of the last line and close the file."""
        if self.closed:
            return
        if not self.truncated:
            self._pending += self._decoder.decode(b"", final=True)
            self._end_line()
        self._file.close()
        self.closed = True

    def __enter__(self) -> LogSink:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def follow(self, *, poll_interval: float = 0.1) -> AsyncIterator[str]:
        """The log's text from the start, as it grows, until this sink is closed."""
        async for text in follow_log(
            self.path, finished=lambda: self.closed, poll_interval=poll_interval
        ):
            yield text

    def _end_line(self) -> None:
        """Write the held part of a line, ending it, so that what follows starts a line."""
        if self._pending and not self.truncated:
            pending, self._pending = self._pending, ""
            self._emit(self._mask(pending))
        if not self._at_line_start:
            self._write_raw(b"\n")

    def _emit(self, text: str) -> None:
        data = text.encode()
        room = max(0, self.max_bytes - self.bytes_written)
        if len(data) <= room:
            self._write_raw(data)
            return
        # Only whole lines go in before the cap, so the log never ends mid-character.
        fits = data.rfind(b"\n", 0, room) + 1
        self._write_raw(data[:fits])
        self.bytes_discarded += len(data) - fits + len(self._pending.encode())
        self.truncated = True
        self._pending = ""
        if not self._at_line_start:
            self._write_raw(b"\n")
        self._write_raw(
            f"… log truncated after {_size(self.max_bytes)}; the job keeps running "
            "and is judged by its exit code\n".encode()
        )

    def _write_raw(self, data: bytes) -> None:
        if not data:
            return
        self._file.write(data)
        self._file.flush()
        self.bytes_written += len(data)
        self._at_line_start = data.endswith(b"\n")


async def follow_log(
    path: Path,
    *,
    finished: Callable[[], bool],
    offset: int = 0,
    poll_interval: float = 0.1,
) -> AsyncIterator[str]:
    """The text of the log at ``path`` from byte ``offset`` on, as it is written.

    Ends once ``finished()`` is true and everything written has been read; a file that does
    not exist yet reads as empty.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        # Asked before reading, so that bytes written just before the end are not missed.
        done = finished()
        chunk = _read(path, offset)
        if chunk:
            offset += len(chunk)
            text = decoder.decode(chunk)
            if text:
                yield text
            continue
        if done:
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
            return
        await asyncio.sleep(poll_interval)


def _read(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as file:
            file.seek(offset)
            return file.read(_READ_SIZE)
    except FileNotFoundError:
        return b""


def _size(count: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= size and count % size == 0:
            return f"{count // size} {unit}"
    return f"{count:,} bytes"
