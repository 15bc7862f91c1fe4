"""A registered repository, read through the ``git`` command.

A local repository is read in place (only committed objects, never its working tree);
a remote one is mirrored under ``ANDON_HOME/repos`` and fetched before each read.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from andon.errors import ConfigurationError, NotFoundError, TemporaryError, UsageError

_REMOTE = re.compile(r"^([a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)")
_CREDENTIALS = re.compile(r"(://[^/@\s:]+:)[^/@\s]+@")
GIT_TIMEOUT = 120.0
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")

_git_dirs: dict[str, Path] = {}
"""The git directory of each local source opened before: a repository does not move, and
the server's poller opens each one every couple of seconds."""


class CommitInfo(NamedTuple):
    """Who made a commit, its subject line, and when it was committed."""

    author: str
    message: str
    committed_at: datetime


def is_remote(source: str) -> bool:
    """Whether ``source`` is a git URL (``https://``, ``ssh://``, ``file://``, ``git@host:``)."""
    return bool(_REMOTE.match(source))


class GitRepository:
    """Committed content of one git repository."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir

    @classmethod
    def open(cls, source: str, *, mirrors: Path, name: str) -> GitRepository:
        """The repository behind ``source``: a local path, or a URL mirrored as ``name``."""
        if is_remote(source):
            mirror = mirrors / f"{name}.git"
            if mirror.exists():
                repo = cls(mirror)
                repo.fetch()
                return repo
            mirrors.mkdir(parents=True, exist_ok=True)
            _run(
                ["git", "clone", "--mirror", "--quiet", source, str(mirror)],
                what=f"cloning {_redact(source)}",
            )
            return cls(mirror)
        path = Path(source)
        if not path.is_dir():
            raise NotFoundError(
                f"there is no directory {source}; name a git repository's path or URL."
            )
        known = _git_dirs.get(source)
        if known is not None and (known / "HEAD").is_file():
            return cls(known)
        try:
            top = _run(
                ["git", "-C", str(path), "rev-parse", "--absolute-git-dir"],
                what=f"reading {source}",
            )
        except UsageError:
            raise NotFoundError(
                f"{source} is not a git repository; run 'git init' and commit there, "
                "or name another path."
            ) from None
        _git_dirs[source] = Path(top.strip())
        return cls(_git_dirs[source])

    def fetch(self) -> None:
        """Bring a mirror up to date with its remote."""
        _run(
            ["git", "--git-dir", str(self.git_dir), "fetch", "--prune", "--quiet", "origin"],
            what="fetching the repository",
            temporary=True,
        )

    def resolve(self, ref: str) -> str:
        """The commit that branch (or ref) ``ref`` points at."""
        branch = self._branch_tip(ref)
        if branch is not None:
            return branch
        for candidate in (f"refs/heads/{ref}", ref):
            try:
                out = self._git("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}")
            except UsageError:
                continue
            if out.strip():
                return out.strip()
        raise NotFoundError(
            f"the repository has no branch '{ref}'; pass --trunk with the name of its trunk branch."
        )

    def _branch_tip(self, ref: str) -> str | None:
        """The commit branch ``ref`` points at, read from its ref file (or packed-refs)
        without running git; None when that cannot be read so (git then answers)."""
        if not _BRANCH.match(ref) or ".." in ref or ref.endswith((".lock", "/", ".")):
            return None
        name = f"refs/heads/{ref}"
        try:
            loose = (self.git_dir / name).read_text("ascii").strip()
        except (OSError, UnicodeDecodeError):
            loose = ""
        if loose:
            return loose if _SHA.match(loose) else None
        try:
            packed = (self.git_dir / "packed-refs").read_text("ascii")
        except (OSError, UnicodeDecodeError):
            return None
        for line in packed.splitlines():
            sha, _, refname = line.partition(" ")
            if refname == name and _SHA.match(sha):
                return sha
        return None

    def is_branch(self, ref: str) -> bool:
        """Whether ``ref`` names a branch (rather than a tag or a commit)."""
        try:
            self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{ref}^{{commit}}")
        except UsageError:
            return False
        return True

    def read(self, commit: str, path: str) -> bytes:
        """The content of ``path`` at ``commit``."""
        if not self.exists(commit, path):
            raise NotFoundError(f"there is no {path} at commit {commit[:12]}.")
        result = subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "cat-file", "blob", f"{commit}:{path}"],
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
        if result.returncode:
            raise NotFoundError(f"there is no {path} at commit {commit[:12]}.")
        return result.stdout

    def exists(self, commit: str, path: str) -> bool:
        """Whether ``path`` names a file at ``commit``."""
        if "\x00" in commit + path:
            return False  # no name in git holds one, and no argument may
        result = subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "cat-file", "-t", f"{commit}:{path}"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
        return result.returncode == 0 and result.stdout.strip() == "blob"

    def tree(self, commit: str, subdir: str = "") -> str:
        """The hash of the tree at ``subdir`` of ``commit`` (the whole commit when empty).

        Equal trees hold equal files, so the hash says whether two commits build alike.
        """
        path = _tree_path(subdir)
        try:
            tree = self._git("rev-parse", "--verify", "--quiet", f"{commit}:{path}").strip()
        except UsageError:
            tree = ""
        if not tree:
            self._commit(commit)
        if not tree or self._git("cat-file", "-t", tree).strip() != "tree":
            raise NotFoundError(
                f"there is no directory {path} at commit {commit[:12]}; "
                "check the project's directory."
            )
        return tree

    def archive(self, commit: str, subdir: str = "") -> bytes:
        """A tar of the files at ``subdir`` of ``commit``, with paths relative to ``subdir``."""
        tree = self.tree(commit, subdir)
        argv = ["git", "--git-dir", str(self.git_dir), "archive", "--format=tar", tree]
        try:
            result = subprocess.run(argv, capture_output=True, timeout=GIT_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            raise TemporaryError(
                f"archiving commit {commit[:12]} took longer than {GIT_TIMEOUT:.0f}s; try again."
            ) from exc
        if result.returncode:
            reason = result.stderr.decode("utf-8", "replace").strip() or "git archive failed"
            raise UsageError(f"archiving commit {commit[:12]} failed: {reason.rstrip('.')}.")
        return result.stdout

    def commits_since(self, ref: str, since_commit: str | None, limit: int) -> list[str]:
        """Commits on ``ref`` after ``since_commit`` (all of them when None), oldest first.

        Only the newest ``limit`` are returned. The walk follows first parents, so a merged
        branch counts as its merge commit: those are the commits that were on ``ref``.
        """
        if limit < 1:
            raise UsageError(f"the limit of commits must be at least 1, not {limit}.")
        # --reverse applies after --max-count: the newest ``limit``, listed oldest first.
        argv = ["rev-list", "--first-parent", "--reverse", f"--max-count={limit}"]
        argv.append(self.resolve(ref))
        if since_commit is not None:
            argv.append(f"^{self._commit(since_commit)}")
        return self._git(*argv).split()

    def commit_info(self, commit: str) -> CommitInfo:
        """The author's name, the first line of the message and the commit time of ``commit``."""
        out = self._git("show", "-s", "--format=%an%x00%s%x00%cI", self._commit(commit))
        author, message, committed = out.rstrip("\n").split("\x00")
        return CommitInfo(author, message, datetime.fromisoformat(committed))

    def commit_times(self, commits: Sequence[str]) -> dict[str, datetime]:
        """The committer time of each of ``commits`` (full hashes in the repository), in
        one git call: when it landed on the branch, which for a squash or rebase merge is
        the merge, not when its work was authored."""
        if not commits:
            return {}
        out = self._git("log", "--no-walk=unsorted", "--format=%H%x00%cI", *commits, "--")
        pairs = (line.split("\x00") for line in out.splitlines() if line)
        return {sha: datetime.fromisoformat(committed) for sha, committed in pairs}

    def _commit(self, commit: str) -> str:
        """The full hash of ``commit``, which must be in the repository."""
        try:
            found = self._git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}").strip()
        except UsageError:
            found = ""
        if not found:
            raise NotFoundError(
                f"there is no commit {commit[:12]} in the repository; if history was "
                "rewritten, start again from the branch's latest commit."
            )
        return found

    def _git(self, *args: str) -> str:
        return _run(["git", "--git-dir", str(self.git_dir), *args], what="reading the repository")


def _run(argv: list[str], *, what: str, temporary: bool = False) -> str:
    """Run git; its failures become Andon errors that quote git's last line."""
    if any("\x00" in arg for arg in argv):
        # No ref, commit or path in git holds a NUL, and no process argument may.
        raise UsageError(f"{what} failed: a name given holds a NUL character.")
    try:
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except FileNotFoundError as exc:
        raise ConfigurationError("git is not installed; install git and try again.") from exc
    except subprocess.TimeoutExpired as exc:
        raise TemporaryError(f"{what} took longer than {GIT_TIMEOUT:.0f}s; try again.") from exc
    if result.returncode:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"git exited with {result.returncode}"
        reason = _redact(reason.removeprefix("fatal: ").rstrip("."))
        error = TemporaryError if temporary else UsageError
        raise error(f"{what} failed: {reason}.")
    return result.stdout


def _tree_path(subdir: str) -> str:
    """``subdir`` as git names a path from the root of a commit (``""`` for the root)."""
    parts = [part for part in subdir.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UsageError(f"the directory {subdir!r} leaves the repository; name one inside it.")
    return "/".join(parts)


def _redact(text: str) -> str:
    """Hide a password written into a URL (``https://user:secret@host``)."""
    return _CREDENTIALS.sub(r"\1***@", text)
