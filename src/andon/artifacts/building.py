"""Building the one immutable artifact of a commit: the service's packaged files as a
deterministic gzip'd tar, and its manifest.

The pipeline calls :func:`build_artifact` in the commit's workspace after the build jobs and
the ``package.vendor`` command have run, then hands the result to an artifact store.

What goes in: every path of ``package.paths`` (files or directories, relative to the service
root), plus ``vendor/`` when ``package.vendor`` is set and the command made that directory,
minus whatever ``package.exclude`` matches (the rules are in
:mod:`andon.artifacts._selecting`). Symbolic links are kept as links, never followed, and only
if they point inside the workspace.

The same tree always gives byte-identical archives, so the same digest: entries are sorted,
owners are root with no names, modes are 0644 or 0755, every mtime is 0 (in the gzip header
too), and no absolute name is written. ``service``, ``commit``, ``tree`` and ``created_at``
go into the manifest only, never into the archive.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from andon.artifacts._members import link_problem, name_parts, name_problem
from andon.artifacts._selecting import Entry, Kind, collect, resolve_inside
from andon.artifacts.manifests import FileEntry, LockRecord, Manifest
from andon.errors import ArtifactError
from andon.spec import PackageSpec

VENDOR_DIR = "vendor"
"""Where ``package.vendor`` is expected to install the dependencies."""

_COMPRESS_LEVEL = 6


@dataclass(frozen=True, slots=True)
class BuiltArtifact:
    """An artifact just built: its archive is a temporary file until a store keeps a copy."""

    digest: str
    archive: Path
    manifest: Manifest
    size: int

    def discard(self) -> None:
        """Remove the temporary archive (once stored, or when the build is abandoned)."""
        self.archive.unlink(missing_ok=True)


def build_artifact(
    workspace: Path,
    package: PackageSpec,
    *,
    service: str,
    commit: str,
    tree: str,
    created_at: datetime,
    out_dir: Path,
) -> BuiltArtifact:
    """Package ``workspace`` as ``package`` says into a new archive in ``out_dir``.

    ArtifactError names the path when one escapes the workspace (by ``..``, an absolute
    path or a symbolic link), does not exist, or is neither file, directory nor link.
    """
    if created_at.utcoffset() is None:
        raise ValueError(f"created_at must be timezone-aware, got {created_at!r}")
    root = _workspace_root(workspace)
    entries = collect(root, package.paths, package.exclude)
    if package.vendor is not None and VENDOR_DIR not in entries and (root / VENDOR_DIR).is_dir():
        entries.update(collect(root, [VENDOR_DIR], package.exclude))
    _check_names(entries)
    lock = _lock_record(root, package.lock)
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="andon-artifact-", suffix=".tar.gz", dir=out_dir)
    archive = Path(name)
    try:
        with os.fdopen(fd, "wb") as raw:
            files = _write_archive(raw, root, entries)
        with archive.open("rb") as written:
            archive_sha256 = hashlib.file_digest(written, "sha256").hexdigest()
        size = archive.stat().st_size
    except OSError as exc:
        archive.unlink(missing_ok=True)
        raise ArtifactError(
            f"cannot write the artifact of commit {commit[:7]} into {out_dir}: "
            f"{exc.strerror or exc}; free space there or check that it is writable, "
            "then rerun the pipeline."
        ) from exc
    except BaseException:
        archive.unlink(missing_ok=True)
        raise
    manifest = Manifest(
        service=service,
        commit=commit,
        tree=tree,
        created_at=created_at.astimezone(UTC),
        files=files,
        links={entry.name: entry.target for entry in entries.values() if entry.kind is Kind.LINK},
        lock=lock,
        archive_sha256=archive_sha256,
        archive_size=size,
    )
    return BuiltArtifact(digest=manifest.digest, archive=archive, manifest=manifest, size=size)


def _workspace_root(workspace: Path) -> Path:
    try:
        root = workspace.resolve(strict=True)
    except (OSError, RuntimeError):
        root = None
    if root is None or not root.is_dir():
        raise ArtifactError(
            f"the workspace {workspace} is not a directory; the pipeline must check out the "
            "commit before packaging it."
        )
    return root


def _check_names(entries: dict[str, Entry]) -> None:
    # The rules unpacking applies: an archive Andon builds must be one it agrees to unpack.
    links = {name for name, entry in entries.items() if entry.kind is Kind.LINK}
    for name, entry in entries.items():
        problem = name_problem(name, links)
        if problem is None and entry.kind is Kind.LINK:
            problem = link_problem(name, entry.target, links)
        if problem is not None:
            raise ArtifactError(
                f"cannot package {name}: it {problem}; name the real directory in "
                "package.paths or replace the link with what it points to."
            )


def _lock_record(root: Path, lock: str | None) -> LockRecord | None:
    if lock is None:
        return None
    path = resolve_inside(root, lock, what="package.lock")
    if not os.path.lexists(path):
        return None
    if not path.resolve().is_relative_to(root):
        raise ArtifactError(
            f"package.lock names {lock}, a symbolic link leading outside the workspace {root}; "
            "name the lock file itself."
        )
    if not path.is_file():
        raise ArtifactError(
            f"package.lock names {lock}, which is not a file; name the lock file itself."
        )
    with path.open("rb") as file:
        digest = hashlib.file_digest(file, "sha256").hexdigest()
    return LockRecord(path="/".join(name_parts(lock)), sha256=digest)


def _write_archive(raw: IO[bytes], root: Path, entries: dict[str, Entry]) -> dict[str, FileEntry]:
    """Write the sorted entries as a reproducible tar.gz; answer each file's manifest entry."""
    files: dict[str, FileEntry] = {}
    # filename="" and mtime=0 keep the temporary file's name and the time out of the header.
    with (
        gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=_COMPRESS_LEVEL
        ) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name in sorted(entries, key=name_parts):
            entry = entries[name]
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = entry.mode
            if entry.kind is Kind.DIRECTORY:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.kind is Kind.LINK:
                info.type = tarfile.SYMTYPE
                info.linkname = entry.target
                tar.addfile(info)
            else:
                info.size = entry.size
                reader = _add_file(tar, info, root / name)
                files[name] = FileEntry(reader.hexdigest(), entry.size, entry.mode)
    return files


def _add_file(tar: tarfile.TarFile, info: tarfile.TarInfo, path: Path) -> _HashingReader:
    try:
        with path.open("rb") as source:
            reader = _HashingReader(source)
            tar.addfile(info, reader)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise
        # tarfile says "unexpected end of data" when the file shrank after it was listed.
        raise ArtifactError(
            f"cannot package {info.name}: {exc.strerror or exc}; make sure no job is still "
            "writing to the workspace and rerun the pipeline."
        ) from exc
    return reader


class _HashingReader:
    """A file wrapper that hashes what tarfile reads, so each file is read only once."""

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self._hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self._hash.update(data)
        return data

    def hexdigest(self) -> str:
        return self._hash.hexdigest()
