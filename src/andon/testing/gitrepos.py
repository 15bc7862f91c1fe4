"""Real git repositories for tests: commands with a fixed identity, and a repository
made with files committed on a branch."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Andon Tests",
    "GIT_AUTHOR_EMAIL": "tests@andon.invalid",
    "GIT_COMMITTER_NAME": "Andon Tests",
    "GIT_COMMITTER_EMAIL": "tests@andon.invalid",
}
"""Who the commits of tests are by."""


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with :data:`GIT_IDENTITY` and return its output, stripped."""
    result = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_IDENTITY},
    )
    return result.stdout.strip()


def make_repo(path: Path, files: dict[str, str], *, branch: str = "main") -> Path:
    """A real git repository at ``path`` with ``files`` committed on ``branch``."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", branch)
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial commit")
    return path
