"""Unpacking an artifact's archive into a new directory, refusing anything that could write
outside it. Deploys call :func:`unpack` after the store has verified the artifact.

Every member is checked before anything is written: no absolute names, no ``..``, no
member below a symbolic link, no link (symbolic or hard) reaching outside, no device files,
pipes or other special members, no name twice. Python's ``data`` extraction filter runs
as a second line of defence. Extraction goes into a hidden directory beside ``dest`` that
is renamed into place at the end, so a refused or broken archive leaves nothing behind.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from andon.artifacts._members import hardlink_problem, link_problem, name_problem, normalized_name
from andon.errors import ArtifactError, ConflictError


def unpack(archive: Path, dest: Path) -> None:
    """Extract the tar.gz ``archive`` into ``dest``, which must not exist or be empty.

    ArtifactError names the member when one is unsafe, and the archive when it cannot be
    read; ``dest`` is then left as it was.
    """
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise ConflictError(
            f"cannot unpack {archive} into {dest}: it exists already and is not "
            "an empty directory; unpack into a new directory."
        )
    staging: Path | None = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.unpacking-", dir=dest.parent))
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            _check_members(archive, members)
            tar.extractall(staging, members=members, filter="data")
        staging.chmod(0o755)
        staging.rename(dest)
        staging = None
    except tarfile.FilterError as exc:
        # Only reached if the filter sees a danger the checks above missed.
        name = exc.tarinfo.name if exc.tarinfo is not None else "?"
        raise _refused(archive, name, f"is stopped by the extraction filter ({exc})") from exc
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ArtifactError(
            f"cannot unpack {archive} into {dest}: {_reason(exc)}; verify the artifact, or "
            "free space if the disk is full, and try again."
        ) from exc
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _check_members(archive: Path, members: Sequence[tarfile.TarInfo]) -> None:
    links = {normalized_name(member.name) for member in members if member.issym()}
    seen: set[str] = set()
    files: set[str] = set()
    for member in members:
        name = normalized_name(member.name)
        problem = name_problem(member.name, links)
        if problem is None and name in seen:
            problem = "appears twice in the archive"
        if problem is None:
            problem = _type_problem(member, links, files)
        if problem is not None:
            raise _refused(archive, member.name, problem)
        seen.add(name)
        if member.isfile():
            files.add(name)


def _type_problem(member: tarfile.TarInfo, links: set[str], files: set[str]) -> str | None:
    if member.isfile() or member.isdir():
        return None
    if member.issym():
        return link_problem(member.name, member.linkname, links)
    if member.islnk():
        return hardlink_problem(member.linkname, files)
    if member.ischr() or member.isblk():
        return "is a device file"
    if member.isfifo():
        return "is a named pipe"
    return "is a special member an artifact never holds"


def _refused(archive: Path, member: str, problem: str) -> ArtifactError:
    return ArtifactError(
        f"refusing to unpack {archive}: member {member!r} {problem}; it was not built by Andon "
        "or was tampered with, so rebuild the artifact."
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
