"""Clean workspaces of one commit: the files of the commit (or of the service's directory in
it), never a working copy, extracted afresh for each job. The pipeline runner keeps one
:class:`WorkspaceFactory` per pipeline and removes its workspaces when the pipeline ends."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import tarfile
import threading
from pathlib import Path

from andon.artifacts import UnsafeMemberError, extract
from andon.errors import PermanentError
from andon.repos import GitRepository

_UNSAFE_CHARACTERS = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_directory_name(name: str) -> str:
    """``name`` as one directory name: unchanged when it is safe already (``unit``), else
    with unsafe characters replaced and a short hash added, so that distinct names never
    share a directory (``unit[1/2]`` → ``unit_1_2_-5c1f0e2a``)."""
    safe = _UNSAFE_CHARACTERS.sub("_", name)
    if safe == name and safe not in {"", ".", ".."}:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{safe.strip('.') or 'job'}-{digest}"


class WorkspaceFactory:
    """Makes clean copies of ``subdir`` at ``commit`` under ``root``, one per job."""

    def __init__(self, repo: GitRepository, commit: str, subdir: str, root: Path) -> None:
        self.repo = repo
        self.commit = commit
        self.subdir = subdir
        self.root = root
        self._snapshot: bytes | None = None
        self._tree: str | None = None
        self._created: list[Path] = []
        # Jobs create their workspaces from threads at once; git is asked only once.
        self._lock = threading.Lock()

    def snapshot(self) -> bytes:
        """The tar of the commit's files, read from git once."""
        with self._lock:
            if self._snapshot is None:
                self._snapshot = self.repo.archive(self.commit, self.subdir)
            return self._snapshot

    @property
    def tree(self) -> str:
        """The git tree hash of the files every workspace holds."""
        with self._lock:
            if self._tree is None:
                self._tree = self.repo.tree(self.commit, self.subdir)
            return self._tree

    def create(self, name: str) -> Path:
        """A fresh workspace for job ``name``; any earlier one of that name is replaced."""
        path = self.root / safe_directory_name(name)
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        self._created.append(path)
        try:
            with tarfile.open(fileobj=io.BytesIO(self.snapshot()), mode="r:") as archive:
                extract(archive, path)
        except UnsafeMemberError as exc:
            shutil.rmtree(path, ignore_errors=True)
            raise PermanentError(
                f"commit {self.commit[:12]} holds a file that cannot be put in a workspace "
                f"safely: {exc}; make it a plain file or a link inside the repository."
            ) from exc
        return path

    def remove_all(self) -> None:
        """Remove every workspace made here, and the root if nothing else is in it."""
        for path in self._created:
            shutil.rmtree(path, ignore_errors=True)
        self._created.clear()
        if self.root.is_dir() and not any(self.root.iterdir()):
            self.root.rmdir()
