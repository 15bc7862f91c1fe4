"""Fixtures shared by every tier: a private ANDON_HOME, real git repositories, free ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOP = ROOT / "examples" / "shop"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Andon Tests",
    "GIT_AUTHOR_EMAIL": "tests@andon.invalid",
    "GIT_COMMITTER_NAME": "Andon Tests",
    "GIT_COMMITTER_EMAIL": "tests@andon.invalid",
}


@pytest.fixture(autouse=True)
def andon_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own ANDON_HOME; none touches the user's."""
    home = tmp_path / "andon-home"
    monkeypatch.setenv("ANDON_HOME", str(home))
    monkeypatch.delenv("ANDON_URL", raising=False)
    monkeypatch.delenv("ANDON_DATABASE_URL", raising=False)
    return home


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with a fixed identity and return its output."""
    result = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_ENV},
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


@pytest.fixture
def shop_monorepo(tmp_path: Path) -> Path:
    """A git repository holding the example shop under ``examples/shop``, as this one does."""
    repo = tmp_path / "monorepo"
    shutil.copytree(
        SHOP,
        repo / "examples" / "shop",
        ignore=shutil.ignore_patterns("__pycache__", "*.db", "*.db-*", ".pytest_cache"),
    )
    (repo / "README.md").write_text("a monorepo\n")
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "add the shop")
    return repo


@pytest.fixture
def repo_factory() -> object:
    """``make_repo(path, files, branch="main")``: a real git repository with files committed."""
    return make_repo


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def port() -> Iterator[int]:
    """A free TCP port on 127.0.0.1."""
    yield free_port()
