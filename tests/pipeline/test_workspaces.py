"""Workspaces made from real git repositories: the committed files of a commit (or of the
service's directory in it), fresh for each job, quick to make, and never a working copy."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from andon.errors import PermanentError
from andon.pipeline import WorkspaceFactory, safe_directory_name
from andon.repos import GitRepository

RepoFactory = Callable[..., Path]

FILES = {
    "README.md": "monorepo\n",
    "shop/andon.yaml": "service: {name: shop}\n",
    "shop/app/main.py": "print('hello')\n",
    "shop/tests/test_main.py": "def test_it(): pass\n",
    "billing/andon.yaml": "service: {name: billing}\n",
}


def factory(repo: Path, root: Path, subdir: str = "shop") -> WorkspaceFactory:
    repository = GitRepository(repo / ".git")
    return WorkspaceFactory(repository, repository.resolve("main"), subdir, root)


def files_in(path: Path) -> dict[str, str]:
    return {
        entry.relative_to(path).as_posix(): entry.read_text()
        for entry in path.rglob("*")
        if entry.is_file()
    }


def test_a_workspace_holds_the_committed_files_of_the_subdir(
    tmp_path: Path, repo_factory: RepoFactory
) -> None:
    repo = repo_factory(tmp_path / "repo", FILES)

    workspace = factory(repo, tmp_path / "ws").create("unit")

    assert workspace == tmp_path / "ws" / "unit"
    assert files_in(workspace) == {
        "andon.yaml": FILES["shop/andon.yaml"],
        "app/main.py": FILES["shop/app/main.py"],
        "tests/test_main.py": FILES["shop/tests/test_main.py"],
    }


def test_a_workspace_of_the_root_holds_every_file(
    tmp_path: Path, repo_factory: RepoFactory
) -> None:
    repo = repo_factory(tmp_path / "repo", FILES)

    workspace = factory(repo, tmp_path / "ws", subdir="").create("unit")

    assert files_in(workspace) == FILES


def test_uncommitted_changes_in_the_working_copy_never_reach_a_workspace(
    tmp_path: Path, repo_factory: RepoFactory
) -> None:
    repo = repo_factory(tmp_path / "repo", FILES)
    (repo / "shop/app/main.py").write_text("print('edited, not committed')\n")
    (repo / "shop/scratch.txt").write_text("untracked\n")
    (repo / "shop/tests/test_main.py").unlink()

    workspace = factory(repo, tmp_path / "ws").create("unit")

    assert (workspace / "app/main.py").read_text() == FILES["shop/app/main.py"]
    assert (workspace / "tests/test_main.py").exists()
    assert not (workspace / "scratch.txt").exists()


def test_each_job_gets_a_fresh_copy_and_a_second_one_starts_clean(
    tmp_path: Path, repo_factory: RepoFactory
) -> None:
    repo = repo_factory(tmp_path / "repo", FILES)
    workspaces = factory(repo, tmp_path / "ws")
    first = workspaces.create("unit[1/2]")
    (first / "app/main.py").write_text("changed by a job\n")
    (first / "build").mkdir()

    second = workspaces.create("unit[2/2]")
    again = workspaces.create("unit[1/2]")

    assert first != second
    assert again == first
    assert files_in(second) == files_in(again)
    assert not (again / "build").exists()
    assert (again / "app/main.py").read_text() == FILES["shop/app/main.py"]


def test_the_commit_is_read_from_git_once_and_extracting_is_quick(
    tmp_path: Path, repo_factory: RepoFactory
) -> None:
    repo = repo_factory(tmp_path / "repo", FILES)
    workspaces = factory(repo, tmp_path / "ws")
    workspaces.create("warm-up")
    snapshot = workspaces.snapshot()

    for number in range(20):
        workspaces.create(f"job-{number}")

    assert workspaces.snapshot() is snapshot


def test_tree_is_the_git_tree_of_the_subdir(tmp_path: Path, repo_factory: RepoFactory) -> None:
    repo = repo_factory(tmp_path / "repo", FILES)
    repository = GitRepository(repo / ".git")

    workspaces = factory(repo, tmp_path / "ws")

    assert workspaces.tree == repository.tree(repository.resolve("main"), "shop")


def test_remove_all_removes_the_workspaces_and_their_root(
    tmp_path: Path, repo_factory: RepoFactory
) -> None:
    repo = repo_factory(tmp_path / "repo", FILES)
    workspaces = factory(repo, tmp_path / "pipelines" / "7")
    workspaces.create("a")
    workspaces.create("b")

    workspaces.remove_all()

    assert not (tmp_path / "pipelines" / "7").exists()
    assert (tmp_path / "pipelines").exists()


class HostileRepository(GitRepository):
    """A repository whose archive holds a link out of the workspace, as no honest git
    would give, standing in for a tampered mirror."""

    def archive(self, commit: str, subdir: str = "") -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo("notes.txt")
            info.size = 2
            archive.addfile(info, io.BytesIO(b"ok"))
            link = tarfile.TarInfo("escape")
            link.type = tarfile.SYMTYPE
            link.linkname = "../../outside"
            archive.addfile(link)
        return buffer.getvalue()


def test_a_member_that_leaves_the_workspace_is_refused(tmp_path: Path) -> None:
    workspaces = WorkspaceFactory(HostileRepository(tmp_path), "0" * 40, "", tmp_path / "ws")

    with pytest.raises(PermanentError, match="cannot be put in a workspace safely"):
        workspaces.create("unit")
    assert not (tmp_path / "ws" / "unit").exists()


@pytest.mark.parametrize(
    ("name", "expected"),
    [("unit", "unit"), ("lint.py-3_11", "lint.py-3_11")],
)
def test_safe_names_are_kept(name: str, expected: str) -> None:
    assert safe_directory_name(name) == expected


def test_unsafe_names_are_changed_and_never_collide() -> None:
    names = ["unit[1/2]", "unit_1_2_", "unit[1_2]", "..", ".", "a/../b"]

    safe = [safe_directory_name(name) for name in names]

    assert len(set(safe)) == len(names)
    assert all("/" not in name and name not in {"", ".", ".."} for name in safe)
    assert safe[0].startswith("unit_1_2_-")
