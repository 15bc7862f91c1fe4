"""Choosing the files of an artifact: ``package.paths`` minus ``package.exclude``, kept
inside the workspace. :func:`~andon.artifacts.building.build_artifact` calls :func:`collect`.

Exclude patterns are matched against each path relative to the service root in POSIX form
(``shop/app.py``), case-sensitively, one path component at a time:

- ``*`` matches any run of characters within a component, ``?`` one character, ``[abc]``
  one of a set (as in :mod:`fnmatch`); none of them matches ``/``.
- ``**`` as a whole component matches any number of components, none included:
  ``**/__pycache__`` is every ``__pycache__`` directory, ``shop/**`` everything under ``shop``.
- A pattern without ``/`` matches a component at any depth: ``tests`` leaves out ``tests/``
  and ``shop/tests/``, ``*.db`` every file or directory whose name ends in ``.db``.
- A pattern with a ``/`` inside (a leading ``/`` or ``./`` included) is anchored at the
  service root: ``shop/static`` and ``/tests`` name one place each.
- A trailing ``/`` matches directories only: ``build/``.
- Leaving out a directory leaves out everything below it, even a path ``package.paths``
  names explicitly below it.
"""

from __future__ import annotations

import enum
import os
import posixpath
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from andon.artifacts._members import name_parts
from andon.errors import ArtifactError


class Kind(enum.Enum):
    """What an archive entry is."""

    FILE = "file"
    DIRECTORY = "directory"
    LINK = "link"


@dataclass(frozen=True, slots=True)
class Entry:
    """One path chosen for the artifact; ``target`` is a link's (relative) target."""

    name: str
    kind: Kind
    mode: int
    size: int = 0
    target: str = ""


def is_excluded(path: str, patterns: Sequence[str], *, directory: bool = False) -> bool:
    """Whether ``package.exclude`` ``patterns`` leave out ``path`` (by the module's rules).

    Only ``path`` itself is matched, not its parent directories.
    """
    return _Exclusions(patterns).match(name_parts(path), directory=directory)


def collect(root: Path, paths: Sequence[str], exclude: Sequence[str]) -> dict[str, Entry]:
    """Every entry below ``paths`` of the workspace ``root`` that ``exclude`` keeps, by name.

    ``root`` must be resolved. Directories are walked without following links.
    """
    exclusions = _Exclusions(exclude)
    entries: dict[str, Entry] = {}
    for path in paths:
        source = resolve_inside(root, path, what="package.paths")
        if not os.path.lexists(source):
            raise ArtifactError(
                f"package.paths names {path}, which does not exist in the workspace {root}; "
                "fix package.paths in andon.yaml or make a build job create it."
            )
        parts = name_parts(posixpath.normpath(path))
        if any(exclusions.match(parts[:end], directory=True) for end in range(1, len(parts))):
            continue
        _walk(root, "/".join(parts), exclusions, entries)
    return entries


def resolve_inside(root: Path, path: str, *, what: str) -> Path:
    """Where ``path`` (relative, from ``what`` in andon.yaml) lies in the workspace ``root``.

    ArtifactError if it is absolute, climbs out with ``..``, or lies under a symbolic link
    that leads out. The last component may itself be a link; callers check where it points.
    """
    if PurePosixPath(path).is_absolute():
        raise ArtifactError(
            f"{what} names {path}, an absolute path; name paths relative to the service root."
        )
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../"):
        raise ArtifactError(
            f"{what} names {path}, which is outside the workspace {root}; "
            "name paths inside the service root."
        )
    source = root / normal
    if source != root and not source.parent.resolve().is_relative_to(root):
        raise ArtifactError(
            f"{what} names {path}, which lies under a symbolic link leading outside the "
            f"workspace {root}; name the real path inside the service root."
        )
    return source


class _Exclusions:
    """``package.exclude`` compiled: each pattern as components, unanchored ones behind ``**``."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self._patterns: list[tuple[tuple[str, ...], bool]] = []
        for pattern in patterns:
            directories_only = pattern.endswith("/")
            anchored = "/" in pattern.rstrip("/")
            parts = name_parts(pattern)
            if not parts:
                raise ArtifactError(
                    f"package.exclude has the pattern {pattern!r}, which matches no name; "
                    "remove it."
                )
            self._patterns.append(((parts if anchored else ("**", *parts)), directories_only))

    def match(self, path: tuple[str, ...], *, directory: bool) -> bool:
        return any(
            _match(parts, path)
            for parts, directories_only in self._patterns
            if directory or not directories_only
        )


def _match(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match(rest, path[start:]) for start in range(len(path) + 1))
    return bool(path) and fnmatchcase(path[0], head) and _match(rest, path[1:])


def _walk(root: Path, top: str, exclusions: _Exclusions, entries: dict[str, Entry]) -> None:
    pending = [top]
    while pending:
        name = pending.pop()
        path = root / name if name else root
        try:
            status = path.lstat()
        except OSError as exc:
            raise ArtifactError(
                f"cannot read {name} in the workspace {root}: {exc.strerror or exc}."
            ) from exc
        mode = status.st_mode
        if name and exclusions.match(name_parts(name), directory=stat.S_ISDIR(mode)):
            continue
        if stat.S_ISLNK(mode):
            entries[name] = Entry(name, Kind.LINK, 0o777, target=_link_target(root, name, path))
        elif stat.S_ISDIR(mode):
            if name:
                entries[name] = Entry(name, Kind.DIRECTORY, 0o755)
            pending.extend(f"{name}/{child}" if name else child for child in os.listdir(path))
        elif stat.S_ISREG(mode):
            executable = mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            entries[name] = Entry(name, Kind.FILE, 0o755 if executable else 0o644, status.st_size)
        else:
            raise ArtifactError(
                f"cannot package {name}: it is a {_special_kind(mode)}, not a file, directory "
                "or link; leave it out with package.exclude."
            )


def _link_target(root: Path, name: str, path: Path) -> str:
    target = os.readlink(path)
    try:
        real = (path.parent / target).resolve()
    except (OSError, RuntimeError):
        raise ArtifactError(
            f"cannot package {name}: it is a symbolic link that loops; remove it or leave it "
            "out with package.exclude."
        ) from None
    if not real.is_relative_to(root):
        raise ArtifactError(
            f"cannot package {name}: it is a symbolic link to {target}, outside the workspace "
            f"{root}; replace it with what it points to or leave it out with package.exclude."
        )
    if os.path.isabs(target):
        # An absolute target names where this workspace happens to be on disk; unpacked
        # elsewhere it would dangle (and unpacking refuses absolute targets), so make it
        # relative to the link's directory.
        target = posixpath.relpath(
            real.relative_to(root).as_posix(), posixpath.dirname(name) or "."
        )
    return target


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device file"
    return "special file"
