"""The last-known flag set on disk, so that a service starts with its flags while the
server is unreachable.

:class:`~andon.flags.client.FlagClient` reads its :class:`CacheFile` once when it starts
and writes it after each version the server sends. One file per server URL, environment
and token (a hash of them names it: two projects with a ``prod`` on one server keep
apart), written atomically (a temporary file beside it, then a rename), so that
processes sharing it (gunicorn's workers) never read half a file. A file that cannot be
read is ignored with a warning: a cache may only ever help.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

from andon.flags._snapshots import Origin, Snapshot, SnapshotError, read_payload

log = logging.getLogger("andon.flags.client")

FORMAT = 1
"""The layout of the cache file; a file of another layout is ignored."""


def default_cache_dir() -> Path:
    """The per-user cache directory: ``$XDG_CACHE_HOME/andon/flags`` or
    ``~/.cache/andon/flags``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "andon" / "flags"


class CacheFile:
    """The cached flag set of one server URL, environment and token."""

    def __init__(self, directory: Path, *, url: str, environment: str | None, token: str | None):
        identity = "\n".join((url.rstrip("/"), environment or "", token or ""))
        digest = hashlib.sha256(identity.encode()).hexdigest()[:24]
        self.path = directory / f"flags-{digest}.json"
        self._warned = False

    def load(self) -> Snapshot | None:
        """The cached snapshot; None when there is none or it cannot be read (warned)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as error:
            log.warning("ignored the flag cache %s: %s", self.path, error.strerror or error)
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise SnapshotError("it is not a flag cache of this SDK")
            return read_payload(data, Origin.CACHE, "the cached flag set")
        except (ValueError, SnapshotError) as error:
            log.warning(
                "ignored the flag cache %s, which cannot be read (%s); it is rewritten "
                "once the server answers",
                self.path,
                error,
            )
            return None

    def save(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` as the last-known set; a failure is warned about once."""
        text = json.dumps({"format": FORMAT, **snapshot.payload()}, separators=(",", ":"))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # mkstemp creates the file readable by its owner alone: targeting rules
            # may name people.
            handle, temporary = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.stem}-", suffix=".tmp"
            )
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as file:
                    file.write(text)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:
            if not self._warned:
                self._warned = True
                log.warning(
                    "cannot keep the flag set in %s (%s); a restart while the server is "
                    "unreachable will serve the defaults",
                    self.path,
                    error.strerror or error,
                )
