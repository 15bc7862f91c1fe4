"""Releases: a verified artifact unpacked where an environment's instances run from, and the
checksums of its files that drift is checked against.

Deploys call :func:`prepare_release` with the artifact store, then render config into the
directory it returns; the drift checker compares :func:`release_digest` of that directory
with :func:`release_files` of the artifact's manifest.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from pathlib import Path

from andon.artifacts import ArtifactStore, Manifest, unpack
from andon.errors import ArtifactError

RELEASES_DIR = "releases"
HEX_LENGTH = 12
SYMLINK_PREFIX = "symlink:"
"""How :func:`release_digest` records a symbolic link: its target after this prefix."""

# The interpreter writes bytecode caches beside the code it runs; they are derived from the
# release, not changes made to it.
_DERIVED_DIRECTORIES = frozenset({"__pycache__"})
_CHUNK = 1 << 20


def prepare_release(artifact_store: ArtifactStore, digest: str, dest_root: Path) -> Path:
    """The directory ``dest_root/releases/<first 12 hex digits>`` holding artifact
    ``digest``, verified and unpacked.

    A directory already there is reused when every file and link of the manifest is in it
    unchanged (rendered config and other files beside them are kept); one that was
    changed is replaced whole by a fresh copy. ArtifactError when the artifact does not
    match its digest or cannot be unpacked.
    """
    manifest = artifact_store.verify(digest)
    release = release_path(dest_root, digest)
    hex_digits = release.name
    if release.is_dir() and not release.is_symlink() and _intact(release, manifest):
        return release
    archive = artifact_store.path(digest)
    token = secrets.token_hex(4)
    fresh = release.parent / f".{hex_digits}.new-{token}"
    unpack(archive, fresh)
    try:
        if release.exists() or release.is_symlink():
            # Replaced by renames, so that the name never points at a half-made directory;
            # instances still running from the old copy keep their open files.
            old = release.parent / f".{hex_digits}.old-{token}"
            _rename(release, old)
            _rename(fresh, release)
            _remove(old)
        else:
            _rename(fresh, release)
    finally:
        if fresh.exists():
            shutil.rmtree(fresh, ignore_errors=True)
    return release


def release_path(dest_root: Path, digest: str) -> Path:
    """Where :func:`prepare_release` puts artifact ``digest`` under ``dest_root``."""
    return dest_root / RELEASES_DIR / digest.removeprefix("sha256:")[:HEX_LENGTH]


def release_digest(path: Path) -> dict[str, str]:
    """Every regular file under ``path`` by POSIX path relative to it, with its sha256
    (hex); symbolic links as ``symlink:<target>``, not followed. Bytecode caches
    (``__pycache__``) are left out."""
    found: dict[str, str] = {}
    for directory, subdirectories, files in os.walk(path):
        subdirectories[:] = sorted(d for d in subdirectories if d not in _DERIVED_DIRECTORIES)
        here = Path(directory)
        for name in sorted(files + [d for d in subdirectories if (here / d).is_symlink()]):
            file = here / name
            relative = file.relative_to(path).as_posix()
            if file.is_symlink():
                found[relative] = SYMLINK_PREFIX + os.readlink(file)
            elif file.is_file():
                found[relative] = _sha256(file)
    return dict(sorted(found.items()))


def release_files(manifest: Manifest) -> dict[str, str]:
    """What :func:`release_digest` gives for a fresh copy of the artifact ``manifest``
    describes."""
    files = {name: entry.sha256 for name, entry in manifest.files.items()}
    files.update({name: SYMLINK_PREFIX + target for name, target in manifest.links.items()})
    return dict(sorted(files.items()))


def _intact(release: Path, manifest: Manifest) -> bool:
    actual = release_digest(release)
    return all(actual.get(name) == sha for name, sha in release_files(manifest).items())


def _rename(source: Path, target: Path) -> None:
    try:
        source.rename(target)
    except OSError as exc:
        raise ArtifactError(
            f"cannot put the release in place at {target} ({(exc.strerror or str(exc)).lower()}); "
            f"check the permissions of {target.parent}."
        ) from exc


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
