"""The manifest and digest of an artifact: what :func:`~andon.artifacts.building.build_artifact`
records beside the archive, and what the artifact store checks the archive against.

An artifact is named by its digest, ``sha256:<hex>`` of the archive's bytes. The archive
holds only the files, so the same tree gives the same digest whoever builds it and when;
who built it, from which commit and when lives in the manifest only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from andon.errors import UsageError

MANIFEST_FORMAT = 1
"""The version of the manifest's layout; readers refuse a newer one rather than guess."""

_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
_T = TypeVar("_T")


def digest_hex(digest: str) -> str:
    """The hex part of ``digest``; UsageError unless it is ``sha256:`` and 64 hex digits."""
    match = _DIGEST.match(digest)
    if match is None:
        raise UsageError(
            f"'{digest}' is not an artifact digest; expected 'sha256:' followed by "
            "64 lowercase hex digits."
        )
    return match.group(1)


def short_digest(digest: str) -> str:
    """``sha256:`` and the first 12 hex digits, for messages: ``sha256:0a1b2c3d4e5f…``."""
    return f"{digest[:19]}…" if len(digest) > 19 else digest


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One regular file of the archive."""

    sha256: str
    size: int
    mode: int
    """0o644, or 0o755 for a file that was executable in the workspace."""


@dataclass(frozen=True, slots=True)
class LockRecord:
    """The dependency lock file (``package.lock``) the artifact was built with."""

    path: str
    sha256: str


@dataclass(frozen=True, slots=True)
class Manifest:
    """What an artifact holds and where it came from.

    ``files`` maps each regular file's POSIX path (relative to the service root) to its
    content hash, size and mode; ``links`` maps each symbolic link to its target.
    Directories are not listed.
    """

    service: str
    commit: str
    tree: str
    created_at: datetime
    files: Mapping[str, FileEntry]
    links: Mapping[str, str]
    lock: LockRecord | None
    archive_sha256: str
    archive_size: int
    format: int = field(default=MANIFEST_FORMAT)

    @property
    def digest(self) -> str:
        """The digest of the archive this manifest describes."""
        return f"sha256:{self.archive_sha256}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: modes as octal strings, ``created_at`` as ISO 8601 in UTC."""
        return {
            "format": self.format,
            "service": self.service,
            "commit": self.commit,
            "tree": self.tree,
            "created_at": self.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "files": {
                name: {"sha256": entry.sha256, "size": entry.size, "mode": f"{entry.mode:04o}"}
                for name, entry in sorted(self.files.items())
            },
            "links": dict(sorted(self.links.items())),
            "lock": None
            if self.lock is None
            else {"path": self.lock.path, "sha256": self.lock.sha256},
            "archive_sha256": self.archive_sha256,
            "archive_size": self.archive_size,
        }

    def to_json(self) -> bytes:
        """The manifest file's bytes: sorted keys, indented, newline-terminated."""
        return (json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_dict(cls, data: object) -> Manifest:
        """The manifest ``to_dict`` gave; ValueError saying what is wrong otherwise."""
        root = _mapping(data, "the manifest")
        version = _field(root, "format", int)
        if version != MANIFEST_FORMAT:
            raise ValueError(
                f"its format is {version} but this Andon reads format {MANIFEST_FORMAT}; "
                "use the Andon version that built it"
            )
        created_at = datetime.fromisoformat(_field(root, "created_at", str))
        if created_at.utcoffset() is None:
            raise ValueError("created_at has no time zone")
        files = {
            name: FileEntry(
                sha256=_sha256(_field(entry, "sha256", str), f"files.{name}.sha256"),
                size=_field(entry, "size", int),
                mode=int(_field(entry, "mode", str), 8),
            )
            for name, value in _mapping(root.get("files"), "files").items()
            for entry in [_mapping(value, f"files.{name}")]
        }
        link_map = _mapping(root.get("links"), "links")
        links = {name: _field(link_map, name, str) for name in link_map}
        lock_data = root.get("lock")
        lock = None
        if lock_data is not None:
            lock_map = _mapping(lock_data, "lock")
            lock = LockRecord(
                path=_field(lock_map, "path", str),
                sha256=_sha256(_field(lock_map, "sha256", str), "lock.sha256"),
            )
        return cls(
            service=_field(root, "service", str),
            commit=_field(root, "commit", str),
            tree=_field(root, "tree", str),
            created_at=created_at.astimezone(UTC),
            files=files,
            links=links,
            lock=lock,
            archive_sha256=_sha256(_field(root, "archive_sha256", str), "archive_sha256"),
            archive_size=_field(root, "archive_size", int),
            format=version,
        )

    @classmethod
    def from_json(cls, text: bytes) -> Manifest:
        """The manifest whose file holds ``text``; ValueError if it is not one."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"it is not JSON ({exc})") from None
        return cls.from_dict(data)


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} is not an object")
    return value


def _field(data: Mapping[str, Any], key: str, kind: type[_T]) -> _T:
    value = data.get(key)
    # bool is an int to Python, but never a size or a format version.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{key} is missing or not a {kind.__name__}")
    return value


def _sha256(value: str, where: str) -> str:
    if not _HEX.match(value):
        raise ValueError(f"{where} is not 64 lowercase hex digits")
    return value
