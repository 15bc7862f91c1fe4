"""Where artifacts are kept once built, addressed by their digest, and how they are checked.

The pipeline puts each :class:`~andon.artifacts.building.BuiltArtifact` into a store;
deploys and ``andon artifact verify`` verify it there before use. :class:`LocalArtifactStore`
keeps files under a directory (``ANDON_HOME/artifacts``)::

    root/sha256/0a/0a1b…9f.tar.gz          the archive, named by its own sha256
    root/sha256/0a/0a1b…9f.manifest.json   its manifest, written last: an artifact exists
                                           exactly when its manifest does
    root/staging/                          where builds write archives before ``put``

Artifacts are immutable: putting a digest that is stored already keeps the stored one (an
artifact is its content, so the manifest kept is that of the first commit that built it).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from andon.artifacts._members import normalized_name
from andon.artifacts.building import BuiltArtifact
from andon.artifacts.manifests import FileEntry, Manifest, digest_hex, short_digest
from andon.errors import ArtifactError, NotFoundError

_CHUNK = 1 << 20
_STORED_MODE = 0o444


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    """An artifact as a store keeps it."""

    digest: str
    path: Path
    manifest: Manifest
    size: int


class ArtifactStore(Protocol):
    """Keeps artifacts by digest. Every method takes a digest ``sha256:<64 hex>``."""

    def put(self, built: BuiltArtifact) -> StoredArtifact:
        """Keep a copy of ``built``, atomically; a no-op when the digest is stored already."""
        ...

    def path(self, digest: str) -> Path:
        """The stored archive's file; NotFoundError if there is no such artifact."""
        ...

    def manifest(self, digest: str) -> Manifest:
        """The stored manifest, unchecked; NotFoundError if there is no such artifact."""
        ...

    def verify(self, digest: str) -> Manifest:
        """The manifest, once the archive is checked against digest and manifest."""
        ...

    def exists(self, digest: str) -> bool:
        """Whether the artifact is stored."""
        ...

    def delete(self, digest: str) -> None:
        """Forget the artifact; nothing happens if it is not stored."""
        ...


class LocalArtifactStore:
    """Artifacts as files under ``root``, content-addressed (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def staging(self) -> Path:
        """Where builds may write archives (``out_dir``): on the same disk as the store."""
        return self.root / "staging"

    def put(self, built: BuiltArtifact) -> StoredArtifact:
        """Copy ``built``'s archive and manifest in; the caller discards ``built`` after."""
        hex_digest = digest_hex(built.digest)
        if built.manifest.archive_sha256 != hex_digest:
            raise ArtifactError(
                f"cannot store artifact {short_digest(built.digest)}: its manifest describes "
                f"another archive; rerun the pipeline for commit {built.manifest.commit[:7]}."
            )
        if self.exists(built.digest):
            return self._stored(built.digest)
        archive, manifest = self._files(hex_digest)
        temporary: list[Path] = []
        try:
            archive.parent.mkdir(parents=True, exist_ok=True)
            archive_temp = _temporary(archive, temporary)
            copied = _copy(built.archive, archive_temp)
            if copied != hex_digest:
                raise ArtifactError(
                    f"artifact {short_digest(built.digest)} was modified after it was built: "
                    f"{built.archive} no longer has that digest; rebuild it by rerunning the "
                    f"pipeline for commit {built.manifest.commit[:7]}."
                )
            manifest_temp = _temporary(manifest, temporary)
            _write(manifest_temp, built.manifest.to_json())
            # The manifest goes last: until it is in place the artifact does not exist,
            # so a crash between the two renames leaves an archive nobody refers to.
            os.replace(archive_temp, archive)
            try:
                os.replace(manifest_temp, manifest)
            except OSError:
                if not manifest.exists():
                    archive.unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise _storing_failed(built, self.root, exc) from exc
        finally:
            for path in temporary:
                path.unlink(missing_ok=True)
        # Both files are complete and synced; a failed directory sync only risks losing
        # the renames in a crash, after which the artifact is absent and is built again.
        with contextlib.suppress(OSError):
            _sync_directory(archive.parent)
        return self._stored(built.digest)

    def path(self, digest: str) -> Path:
        """The stored archive's file; NotFoundError if there is no such artifact."""
        if not self.exists(digest):
            raise _not_found(digest, self.root)
        return self._files(digest_hex(digest))[0]

    def manifest(self, digest: str) -> Manifest:
        """The stored manifest, unchecked; NotFoundError if there is no such artifact."""
        file = self._files(digest_hex(digest))[1]
        try:
            text = file.read_bytes()
        except FileNotFoundError:
            raise _not_found(digest, self.root) from None
        except OSError as exc:
            raise ArtifactError(
                f"cannot read the manifest of artifact {short_digest(digest)}: "
                f"{exc.strerror or exc}; check the permissions of {file}."
            ) from exc
        try:
            return Manifest.from_json(text)
        except ValueError as exc:
            raise ArtifactError(
                f"the manifest of artifact {short_digest(digest)} is unreadable: {exc}; "
                "delete the artifact and rerun the pipeline for its commit."
            ) from exc

    def verify(self, digest: str) -> Manifest:
        """The manifest, once the archive's bytes match the digest and its files match the
        manifest; ArtifactError naming the first mismatch otherwise."""
        hex_digest = digest_hex(digest)
        manifest = self.manifest(digest)
        archive = self.path(digest)
        actual, size = _sha256_and_size(archive)
        # Looked for even when the digest alone already fails, to name the file that changed.
        mismatch = _first_mismatch(archive, manifest)
        if actual != hex_digest:
            raise _modified(digest, manifest, mismatch or "its archive no longer has that digest")
        if manifest.archive_sha256 != hex_digest or manifest.archive_size != size:
            raise _modified(digest, manifest, mismatch or "its manifest describes another archive")
        if mismatch is not None:
            raise _modified(digest, manifest, mismatch)
        return manifest

    def exists(self, digest: str) -> bool:
        """Whether the artifact is stored (its manifest is written last, so it decides)."""
        archive, manifest = self._files(digest_hex(digest))
        return manifest.is_file() and archive.is_file()

    def delete(self, digest: str) -> None:
        """Forget the artifact, manifest first; nothing happens if it is not stored."""
        archive, manifest = self._files(digest_hex(digest))
        try:
            manifest.unlink(missing_ok=True)
            archive.unlink(missing_ok=True)
        except OSError as exc:
            raise ArtifactError(
                f"cannot delete artifact {short_digest(digest)}: {exc.strerror or exc}; "
                f"check the permissions of {archive.parent}."
            ) from exc

    def _files(self, hex_digest: str) -> tuple[Path, Path]:
        shard = self.root / "sha256" / hex_digest[:2]
        return shard / f"{hex_digest}.tar.gz", shard / f"{hex_digest}.manifest.json"

    def _stored(self, digest: str) -> StoredArtifact:
        path = self.path(digest)
        return StoredArtifact(
            digest=digest, path=path, manifest=self.manifest(digest), size=path.stat().st_size
        )


def _temporary(final: Path, temporary: list[Path]) -> Path:
    # Beside the final name, so that os.replace is a rename within one file system.
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    temporary.append(Path(name))
    return Path(name)


def _copy(source: Path, target: Path) -> str:
    """Copy ``source`` over ``target``, synced to disk; answer the sha256 of what was copied."""
    digest = hashlib.sha256()
    with source.open("rb") as reader, target.open("wb") as writer:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            writer.write(chunk)
        writer.flush()
        os.fchmod(writer.fileno(), _STORED_MODE)
        os.fsync(writer.fileno())
    return digest.hexdigest()


def _write(target: Path, data: bytes) -> None:
    with target.open("wb") as writer:
        writer.write(data)
        writer.flush()
        os.fchmod(writer.fileno(), _STORED_MODE)
        os.fsync(writer.fileno())


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256_and_size(path: Path) -> tuple[str, int]:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest(), os.fstat(file.fileno()).st_size


def _first_mismatch(archive: Path, manifest: Manifest) -> str | None:
    """The first way the archive's members differ from ``manifest``, as a phrase; None if none."""
    files = dict(manifest.files)
    links = dict(manifest.links)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = normalized_name(member.name)
                if member.isdir():
                    continue
                if member.issym():
                    if links.pop(name, None) != member.linkname:
                        return f"the link {name} does not match its manifest"
                    continue
                entry = files.pop(name, None)
                if entry is None or not member.isfile():
                    return f"{name} is not in its manifest"
                if not _same_file(tar, member, entry):
                    return f"{name} does not match its manifest"
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        return f"its archive is no longer a readable tar.gz ({exc})"
    missing = sorted([*files, *links])
    return f"{missing[0]} is in its manifest but not in the archive" if missing else None


def _same_file(tar: tarfile.TarFile, member: tarfile.TarInfo, entry: FileEntry) -> bool:
    reader = tar.extractfile(member)
    if reader is None:  # pragma: no cover - regular files always have data
        return False
    digest = hashlib.sha256()
    while chunk := reader.read(_CHUNK):
        digest.update(chunk)
    return (digest.hexdigest(), member.size, member.mode) == (entry.sha256, entry.size, entry.mode)


def _modified(digest: str, manifest: Manifest, what: str) -> ArtifactError:
    return ArtifactError(
        f"artifact {short_digest(digest)} was modified after it was built: {what}; "
        f"rebuild it by rerunning the pipeline for commit {manifest.commit[:7]}."
    )


def _not_found(digest: str, root: Path) -> NotFoundError:
    return NotFoundError(
        f"there is no artifact {short_digest(digest)} in {root}; rerun the pipeline for its "
        "commit to build it."
    )


def _storing_failed(built: BuiltArtifact, root: Path, exc: OSError) -> ArtifactError:
    commit = built.manifest.commit[:7]
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ArtifactError(
            f"cannot store artifact {short_digest(built.digest)}: the disk holding {root} is "
            f"full; free space (or delete old artifacts) and rerun the pipeline for commit "
            f"{commit}."
        )
    where = f" ({exc.filename})" if exc.filename else ""
    return ArtifactError(
        f"cannot store artifact {short_digest(built.digest)} in {root}: "
        f"{exc.strerror or exc}{where}; check that the directory is writable and rerun the "
        f"pipeline for commit {commit}."
    )
