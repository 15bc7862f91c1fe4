"""Unpacking an artifact's archive into a new directory, refusing anything that could write
outside it. Deploys call :func:`unpack` after the store has verified the artifact.

Every member is checked before anything is written: no absolute names, no ``..``, no
member below a symbolic link, no link (symbolic or hard) reaching outside, no device files,
pipes or other special members, no name twice
(:func:`~andon.artifacts.extracting.extract`). Extraction goes into a hidden directory
beside ``dest`` that is renamed into place at the end, so a refused or broken archive
leaves nothing behind.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

from andon.artifacts.extracting import UnsafeMemberError, extract
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
            extract(tar, staging)
        staging.chmod(0o755)
        staging.rename(dest)
        staging = None
    except UnsafeMemberError as exc:
        raise _refused(archive, exc.name, exc.problem) from exc
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise ArtifactError(
            f"cannot unpack {archive} into {dest}: {_reason(exc)}; verify the artifact, or "
            "free space if the disk is full, and try again."
        ) from exc
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _refused(archive: Path, member: str, problem: str) -> ArtifactError:
    return ArtifactError(
        f"refusing to unpack {archive}: member {member!r} {problem}; it was not built by Andon "
        "or was tampered with, so rebuild the artifact."
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
