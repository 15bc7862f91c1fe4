"""Reuse between pipelines: the key that says an earlier result of a job still holds, and
the directories a job keeps from one run to the next (``cache:``). The pipeline runner
computes the key on a fresh workspace before the job, restores the directories before it
runs and saves them after it succeeds."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from andon.artifacts import UnsafeMemberError, extract
from andon.pipeline._globbing import find_files
from andon.pipeline.planning import PlannedJob
from andon.pipeline.workspaces import safe_directory_name

_KEY_VERSION = 1
"""Raised when what goes into a key changes, so that older keys no longer match."""

KEPT_PER_JOB = 3
"""How many saved caches of one job are kept (the most recent); older ones are removed."""


def compute_cache_key(
    job: PlannedJob, workspace: Path, *, needs: Mapping[str, str], tree: str
) -> str:
    """The sha256 (hex) of everything that decides the job's result.

    That is the job's name, command, environment, shard and report globs, the keys of the
    jobs it needs (``needs`` maps each of ``job.needs`` to its key), and the content of the
    files its ``inputs`` globs match in ``workspace``. Without ``inputs`` the whole ``tree``
    hash stands in, so that undeclared inputs never give a wrong hit. Compute it on a fresh
    workspace, before cache directories are restored into it.
    """
    missing = [name for name in job.needs if name not in needs]
    if missing:
        raise ValueError(f"the cache keys of {', '.join(missing)} are needed first")
    document: dict[str, Any] = {
        "version": _KEY_VERSION,
        "job": job.job,
        "stage": job.stage,
        "command": job.command,
        "env": sorted(job.env.items()),
        "shard": [job.shard_index, job.shard_total],
        "reports": list(job.reports),
        "needs": sorted((name, needs[name]) for name in job.needs),
        "inputs": list(job.inputs),
    }
    if job.inputs:
        document["files"] = _digests(workspace, job.inputs)
    else:
        document["tree"] = tree
    return _sha256(document)


class CacheDirectories:
    """The ``cache:`` directories of a project's jobs, kept as tars under ``root/<project>``.

    A job's directories are keyed by the content of its ``cache_key`` files (or by its
    command when it names none); projects never share them.
    """

    def __init__(self, root: Path, project: str) -> None:
        self.root = root
        self.project = project
        self.directory = root / safe_directory_name(project)

    def key(self, job: PlannedJob, workspace: Path) -> str:
        """The key of ``job``'s cache directories in ``workspace``."""
        if job.cache_key:
            basis: dict[str, Any] = {"files": _digests(workspace, job.cache_key)}
        else:
            basis = {"command": job.command}
        return _sha256({"version": _KEY_VERSION, "directories": _directories(job), **basis})

    def path(self, job: PlannedJob, workspace: Path) -> Path:
        """Where ``job``'s cache directories for ``workspace`` are (or would be) saved."""
        name = safe_directory_name(job.job)
        return self.directory / name / f"{self.key(job, workspace)}.tar"

    def restore(self, job: PlannedJob, workspace: Path) -> bool:
        """Put the saved directories into ``workspace``; False when there are none to use."""
        directories = _directories(job)
        if not directories:
            return False
        try:
            with tarfile.open(self.path(job, workspace), mode="r:") as archive:
                if not all(_within(m.name, directories) for m in archive.getmembers()):
                    return False
                extract(archive, workspace, outside_links=True)
        except (OSError, tarfile.TarError, UnsafeMemberError):
            # A missing or damaged cache is a miss; a half-restored one would mislead the job.
            for directory in directories:
                shutil.rmtree(workspace / directory, ignore_errors=True)
            return False
        return True

    def save(self, job: PlannedJob, workspace: Path) -> Path | None:
        """Keep ``job``'s cache directories from ``workspace``; the tar's path, or None when
        there was nothing to keep or the disk refused (a job never fails for its cache)."""
        present = [d for d in _directories(job) if _is_real_directory(workspace / d)]
        if not present:
            return None
        target = self.path(job, workspace)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        except OSError:
            return None
        try:
            with os.fdopen(handle, "wb") as file, tarfile.open(fileobj=file, mode="w") as archive:
                for directory in present:
                    archive.add(workspace / directory, arcname=directory)
            # Readers see the old tar or the new one, never half of one.
            os.replace(temporary, target)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            return None
        self._prune(target.parent)
        return target

    def _prune(self, directory: Path) -> None:
        saved = sorted(directory.glob("*.tar"), key=_modified, reverse=True)
        for old in saved[KEPT_PER_JOB:]:
            with contextlib.suppress(OSError):
                old.unlink()


def _digests(workspace: Path, globs: Sequence[str]) -> list[list[str]]:
    """``[relative path, sha256]`` of each file ``globs`` match, sorted by path."""
    return [[path, _file_digest(workspace / path)] for path in find_files(workspace, globs)]


def _file_digest(path: Path) -> str:
    if path.is_symlink():
        return "link:" + os.readlink(path)
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _directories(job: PlannedJob) -> list[str]:
    """The job's cache directories as clean relative paths; any that leave the workspace are
    ignored, as the spec promises directories inside it."""
    clean: list[str] = []
    for entry in job.cache:
        path = PurePosixPath(entry.strip())
        if path.is_absolute() or ".." in path.parts or str(path) == ".":
            continue
        clean.append(str(path))
    return clean


def _within(name: str, directories: Sequence[str]) -> bool:
    path = str(PurePosixPath(name))
    return any(path == d or path.startswith(f"{d}/") for d in directories)


def _is_real_directory(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _sha256(document: Mapping[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
