"""Extracting a tar archive into a directory, refusing any member that could write outside
it, on every Python 3.11: artifacts' unpacking, the pipeline's workspaces and its caches
call :func:`extract`.

Every member is checked before anything is written (the rules of ``_members``, plus no
name twice and no device, pipe or other special member). Then the standard library's
extraction filter runs as a second line of defence where Python has one (3.11.4 and newer;
Debian 12's 3.11.2 has none). Without it, members are extracted as copies that belong to
this process's user, with their set-id and others' write bits cleared, as the filter does.
"""

from __future__ import annotations

import copy
import os
import tarfile
from collections.abc import Sequence
from pathlib import Path

from andon.artifacts._members import hardlink_problem, link_problem, name_problem, normalized_name

HAS_FILTERS = hasattr(tarfile, "data_filter")
"""Whether this Python's tarfile has extraction filters (3.11.4 and newer)."""


class UnsafeMemberError(Exception):
    """A member of an archive that could write outside the directory, or is not a plain
    file, directory or link; ``problem`` completes "member NAME …"."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"member {name!r} {problem}")
        self.name = name
        self.problem = problem


def extract(
    archive: tarfile.TarFile,
    dest: Path,
    members: Sequence[tarfile.TarInfo] | None = None,
    *,
    outside_links: bool = False,
) -> None:
    """Extract ``members`` (all when None) of ``archive`` into ``dest``.

    UnsafeMemberError names the first member refused; nothing is written then, unless the
    filter (which looks at each member as it extracts it) refuses one the checks let by.
    ``outside_links`` lets symbolic links point anywhere, as a cache of a virtual
    environment needs; no member is ever written outside ``dest`` all the same.
    """
    chosen = list(archive.getmembers() if members is None else members)
    check_members(chosen, outside_links=outside_links)
    if not HAS_FILTERS:
        archive.extractall(dest, members=[_plain(member) for member in chosen])
        return
    try:
        archive.extractall(dest, members=chosen, filter="tar" if outside_links else "data")
    except tarfile.FilterError as exc:
        name = exc.tarinfo.name if exc.tarinfo is not None else "?"
        raise UnsafeMemberError(name, f"is stopped by the extraction filter ({exc})") from exc


def check_members(members: Sequence[tarfile.TarInfo], *, outside_links: bool = False) -> None:
    """UnsafeMemberError for the first member of ``members`` that is unsafe to extract."""
    links = {normalized_name(member.name) for member in members if member.issym()}
    seen: set[str] = set()
    files: set[str] = set()
    for member in members:
        name = normalized_name(member.name)
        problem = name_problem(member.name, links)
        if problem is None and name in seen:
            problem = "appears twice in the archive"
        if problem is None:
            problem = _type_problem(member, links, files, outside_links=outside_links)
        if problem is not None:
            raise UnsafeMemberError(member.name, problem)
        seen.add(name)
        if member.isfile():
            files.add(name)


def _type_problem(
    member: tarfile.TarInfo, links: set[str], files: set[str], *, outside_links: bool
) -> str | None:
    if member.isfile() or member.isdir():
        return None
    if member.issym():
        return None if outside_links else link_problem(member.name, member.linkname, links)
    if member.islnk():
        return hardlink_problem(member.linkname, files)
    if member.ischr() or member.isblk():
        return "is a device file"
    if member.isfifo():
        return "is a named pipe"
    return "is a special member that has no place here"


def _plain(member: tarfile.TarInfo) -> tarfile.TarInfo:
    """What the ``data`` filter would extract: owned by this process's user, with no set-id
    bits and no write permission for others; the owner may read and write its files."""
    plain = copy.copy(member)
    plain.uid, plain.gid, plain.uname, plain.gname = os.getuid(), os.getgid(), "", ""
    if member.isfile():
        plain.mode = (member.mode & 0o755) | 0o600
    elif member.isdir():
        plain.mode = (member.mode & 0o755) | 0o700
    return plain
