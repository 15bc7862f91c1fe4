"""One flag set as the flag SDK receives it: from the server, the disk cache or a bootstrap.

:class:`~andon.flags.client.FlagClient` turns every payload it is handed into a
:class:`Snapshot` here (the stream and ``GET /api/v1/sdk/flags`` through
:func:`read_payload`, a ``bootstrap=`` argument through :func:`read_bootstrap`) and asks
:meth:`Snapshot.supersedes` whether it may replace what it serves. The shape is checked
before the flagd document is compiled, so that a malformed payload is refused with a
sentence instead of reaching the evaluator (whose whole-document errors would pull in
andon.spec, which the SDK's process must not pay for).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from andon.flags._jsonlogic import Clock
from andon.flags.evaluating import FlagSet
from andon.flags.resolutions import NO_METADATA


class SnapshotError(ValueError):
    """A payload, cache file or bootstrap is not a flag set; the message says why."""


class Origin(StrEnum):
    """Where a snapshot came from, which decides what may replace it."""

    SERVER = "server"
    CACHE = "cache"
    BOOTSTRAP = "bootstrap"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A flag set as received: the flagd document, its version and its guards."""

    document: Mapping[str, Any]
    """The flagd document (``flags``, ``$evaluators``, ``metadata``)."""
    version: int | None
    """The flag-set version the server gave it; None for an unversioned bootstrap."""
    origin: Origin
    guards: Mapping[str, Any] = field(default_factory=lambda: NO_METADATA)
    """The guards by flag key, as the SDK payload carries them."""
    project: str | None = None
    environment: str | None = None

    def supersedes(self, current: Snapshot | None) -> bool:
        """Whether this snapshot may replace ``current``. No side effects.

        The server's word replaces a cache or bootstrap whatever the versions say (the
        server may have been rebuilt and counted again from 1); between two of the
        server's, only a newer version wins, so a late or repeated event never takes a
        client back. A cache or bootstrap only fills an empty client.
        """
        if current is None:
            return True
        if self.origin is not Origin.SERVER:
            return False
        if current.origin is not Origin.SERVER:
            return True
        return (self.version or 0) > (current.version or 0)

    def payload(self) -> dict[str, Any]:
        """The SDK payload shape (``GET /api/v1/sdk/flags``), as the disk cache keeps it."""
        return {
            "project": self.project,
            "environment": self.environment,
            "version": self.version,
            "flags": _plain(self.document),
            "guards": _plain(self.guards),
        }

    def compile(self, document: Mapping[str, Any] | None = None, *, clock: Clock) -> FlagSet:
        """The evaluator for this snapshot's document, or for ``document`` when given (the
        same flags with guard fallbacks). Lenient, as flagd is: a broken flag answers
        the caller's default with PARSE_ERROR and leaves the others working."""
        return FlagSet.from_document(
            self.document if document is None else document,
            clock=clock,
            strict=False,
            source=f"the flag set version {self.version}",
        )


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def check_document(document: Any, where: str) -> Mapping[str, Any]:
    """``document`` if it has the shape of a flagd document; SnapshotError otherwise."""
    if not isinstance(document, Mapping):
        raise SnapshotError(f"{where} is not a flagd document (a JSON object with 'flags')")
    if not isinstance(document.get("flags"), Mapping):
        raise SnapshotError(f"{where} has no 'flags' object of flags by key")
    if not isinstance(document.get("$evaluators") or {}, Mapping):
        raise SnapshotError(f"{where}: '$evaluators' is not an object of rules by name")
    metadata = document.get("metadata") or {}
    if not isinstance(metadata, Mapping) or not all(
        isinstance(item, str | int | float | bool) for item in metadata.values()
    ):
        raise SnapshotError(f"{where}: 'metadata' maps names to strings, numbers or booleans")
    return MappingProxyType(dict(document))


def read_payload(data: Any, origin: Origin, where: str = "the server's flag set") -> Snapshot:
    """The snapshot of an SDK payload (``{"version", "flags", "guards", ...}``).

    Raises :class:`SnapshotError` naming what is wrong; a version is required unless the
    payload is a bootstrap.
    """
    if not isinstance(data, Mapping):
        raise SnapshotError(f"{where} is not a JSON object")
    version = data.get("version")
    if version is None and origin is not Origin.BOOTSTRAP:
        raise SnapshotError(f"{where} has no version")
    if version is not None and (
        not isinstance(version, int) or isinstance(version, bool) or version < 0
    ):
        raise SnapshotError(f"{where} has version {version!r}, not a whole number")
    guards = data.get("guards") or {}
    if not isinstance(guards, Mapping):
        raise SnapshotError(f"{where}: 'guards' is not an object of guards by flag key")
    project, environment = data.get("project"), data.get("environment")
    return Snapshot(
        document=check_document(data.get("flags"), f"{where}: 'flags'"),
        version=version,
        origin=origin,
        guards=MappingProxyType(dict(guards)),
        project=project if isinstance(project, str) else None,
        environment=environment if isinstance(environment, str) else None,
    )


def _is_payload(data: Mapping[str, Any]) -> bool:
    # A flagd document's "flags" holds flag definitions; a payload's holds a flagd
    # document, whose own "flags" is an object of definitions (never one definition).
    if "version" in data or "guards" in data:
        return True
    inner = data.get("flags")
    if not isinstance(inner, Mapping):
        return False
    nested = inner.get("flags")
    return isinstance(nested, Mapping) and "variants" not in nested


def read_bootstrap(source: Mapping[str, Any] | str | os.PathLike[str]) -> Snapshot:
    """The snapshot of a ``bootstrap=`` argument: a dict, or the path of a JSON (or YAML)
    file, holding a flagd document or an SDK payload. Raises :class:`SnapshotError`."""
    where = "the bootstrap"
    data: Any = source
    if not isinstance(source, Mapping):
        path = Path(source)
        where = f"the bootstrap file {path}"
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise SnapshotError(f"{where} cannot be read: {error.strerror or error}") from error
        data = _parse_file(text, path, where)
    if not isinstance(data, Mapping):
        raise SnapshotError(f"{where} is not a flagd document or an SDK payload")
    if _is_payload(data):
        return read_payload(data, Origin.BOOTSTRAP, where)
    return Snapshot(document=check_document(data, where), version=None, origin=Origin.BOOTSTRAP)


def _parse_file(text: str, path: Path, where: str) -> Any:
    if path.suffix.lower() in {".yaml", ".yml"}:
        # ruamel.yaml is only needed by services that bootstrap from YAML.
        from ruamel.yaml import YAML  # noqa: PLC0415
        from ruamel.yaml.error import YAMLError  # noqa: PLC0415

        try:
            return YAML(typ="safe").load(text)
        except YAMLError as error:
            raise SnapshotError(f"{where} is not valid YAML: {error}") from error
    try:
        return json.loads(text)
    except ValueError as error:
        raise SnapshotError(f"{where} is not valid JSON: {error}") from error
