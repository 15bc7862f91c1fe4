"""Reading committed content for the pipeline: tars and tree hashes of a commit (or of a
directory in it), the commits on a branch since the last one built, and who made a commit.
Every test runs git on a real repository."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from andon.errors import NotFoundError, UsageError
from andon.repos import GitRepository

RepoFactory = Callable[..., Path]

IDENTITY = {
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@andon.invalid",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@andon.invalid",
}


def git(repo: Path, *args: str, when: str | None = None) -> str:
    env = {**os.environ, **IDENTITY}
    if when is not None:
        env |= {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=env
    )
    return result.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str, when: str | None = None) -> str:
    for name, text in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, when=when)
    return git(repo, "rev-parse", "HEAD")


def names_in(tar: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        return {member.name for member in archive.getmembers() if member.isfile()}


@pytest.fixture
def repo(tmp_path: Path, repo_factory: RepoFactory) -> Path:
    return repo_factory(
        tmp_path / "svc",
        {"README.md": "top\n", "svc/andon.yaml": "service: {}\n", "svc/app/main.py": "x = 1\n"},
    )


def test_archive_of_the_root_holds_every_committed_file(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")

    tar = GitRepository(repo / ".git").archive(head, "")

    assert names_in(tar) == {"README.md", "svc/andon.yaml", "svc/app/main.py"}


def test_archive_of_a_subdir_has_paths_relative_to_it(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")

    tar = GitRepository(repo / ".git").archive(head, "svc/")

    assert names_in(tar) == {"andon.yaml", "app/main.py"}


def test_archive_reads_the_commit_not_the_working_copy(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    (repo / "svc/app/main.py").write_text("x = 'uncommitted'\n")
    (repo / "svc/untracked.txt").write_text("never added\n")

    tar = GitRepository(repo / ".git").archive(head, "svc")

    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        main = archive.extractfile("app/main.py")
        assert main is not None
        assert main.read() == b"x = 1\n"
        assert "untracked.txt" not in archive.getnames()


def test_tree_is_the_hash_git_gives_the_directory(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    repository = GitRepository(repo / ".git")

    assert repository.tree(head, "svc") == git(repo, "rev-parse", "HEAD:svc")
    assert repository.tree(head, "") == git(repo, "rev-parse", "HEAD^{tree}")


def test_tree_stays_the_same_when_only_files_elsewhere_change(repo: Path) -> None:
    repository = GitRepository(repo / ".git")
    first = git(repo, "rev-parse", "HEAD")
    second = commit(repo, {"README.md": "changed\n"}, "docs")
    third = commit(repo, {"svc/app/main.py": "x = 2\n"}, "code")

    assert repository.tree(first, "svc") == repository.tree(second, "svc")
    assert repository.tree(second, "svc") != repository.tree(third, "svc")


@pytest.mark.parametrize("subdir", ["nope", "README.md"])
def test_a_missing_directory_is_not_found(repo: Path, subdir: str) -> None:
    head = git(repo, "rev-parse", "HEAD")

    with pytest.raises(NotFoundError, match=f"there is no directory {subdir} at commit"):
        GitRepository(repo / ".git").archive(head, subdir)


def test_an_unknown_commit_is_not_found(repo: Path) -> None:
    with pytest.raises(NotFoundError, match="there is no commit 0123456789ab"):
        GitRepository(repo / ".git").tree("0123456789abcdef" * 2 + "01234567", "svc")


def test_a_subdir_that_leaves_the_repository_is_refused(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")

    with pytest.raises(UsageError, match="leaves the repository"):
        GitRepository(repo / ".git").tree(head, "svc/../..")


def test_commits_since_lists_the_new_commits_oldest_first(repo: Path) -> None:
    repository = GitRepository(repo / ".git")
    first = git(repo, "rev-parse", "HEAD")
    second = commit(repo, {"a.txt": "a"}, "second")
    third = commit(repo, {"b.txt": "b"}, "third")

    assert repository.commits_since("main", first, 10) == [second, third]
    assert repository.commits_since("main", third, 10) == []
    assert repository.commits_since("main", None, 10) == [first, second, third]


def test_commits_since_keeps_the_newest_when_there_are_more_than_the_limit(repo: Path) -> None:
    repository = GitRepository(repo / ".git")
    first = git(repo, "rev-parse", "HEAD")
    made = [commit(repo, {f"{n}.txt": str(n)}, f"commit {n}") for n in range(4)]

    assert repository.commits_since("main", first, 2) == made[-2:]


def test_commits_since_counts_a_merged_branch_as_its_merge_commit(repo: Path) -> None:
    repository = GitRepository(repo / ".git")
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature")
    on_branch = commit(repo, {"f.txt": "f"}, "feature work")
    git(repo, "checkout", "-q", "main")
    on_main = commit(repo, {"m.txt": "m"}, "main work")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    merge = git(repo, "rev-parse", "HEAD")

    listed = repository.commits_since("main", first, 10)

    assert listed == [on_main, merge]
    assert on_branch not in listed


def test_commits_since_an_unknown_commit_is_not_found(repo: Path) -> None:
    with pytest.raises(NotFoundError, match="history was rewritten"):
        GitRepository(repo / ".git").commits_since("main", "f" * 40, 10)


def test_commit_info_gives_author_subject_and_time(repo: Path) -> None:
    made = commit(
        repo,
        {"c.txt": "c"},
        "Fix the checkout total\n\nThe body is not part of it.",
        when="2024-05-06T07:08:09+02:00",
    )

    info = GitRepository(repo / ".git").commit_info(made)

    assert info.author == "Ada Lovelace"
    assert info.message == "Fix the checkout total"
    assert info.committed_at == datetime.fromisoformat("2024-05-06T07:08:09+02:00")
    author, message, committed_at = info
    assert (author, message, committed_at) == tuple(info)


def test_commit_times_are_the_committer_times_of_every_commit_asked(repo: Path) -> None:
    first = commit(repo, {"d.txt": "d"}, "First", when="2024-05-06T07:00:00+00:00")
    second = commit(repo, {"e.txt": "e"}, "Second", when="2024-05-06T09:30:00+02:00")

    times = GitRepository(repo / ".git").commit_times([second, first])

    assert times == {
        first: datetime.fromisoformat("2024-05-06T07:00:00+00:00"),
        second: datetime.fromisoformat("2024-05-06T09:30:00+02:00"),
    }
    assert GitRepository(repo / ".git").commit_times([]) == {}


def test_is_branch_tells_branches_from_tags_and_commits(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "v1")
    repository = GitRepository(repo / ".git")

    assert repository.is_branch("main")
    assert not repository.is_branch("v1")
    assert not repository.is_branch(head)
    assert not repository.is_branch("nope")


def test_a_branch_tip_is_read_from_its_ref_loose_or_packed_without_running_git(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = GitRepository.open(str(repo), mirrors=repo.parent / "mirrors", name="svc")
    loose = git(repo, "rev-parse", "main")
    git(repo, "branch", "packed")
    git(repo, "pack-refs", "--all")
    newer = commit(repo, {"README.md": "again\n"}, "again")
    expected = {"main": newer, "packed": loose}

    def no_git(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"git ran: {args}")

    with monkeypatch.context() as patched:
        patched.setattr(subprocess, "run", no_git)
        again = GitRepository.open(str(repo), mirrors=repo.parent / "mirrors", name="svc")
        assert {ref: again.resolve(ref) for ref in expected} == expected
    # What the files cannot say, git does: a commit, a tag, a name with "..".
    assert opened.resolve(loose[:12]) == loose
    git(repo, "tag", "v1", loose)
    assert opened.resolve("v1") == loose
    with pytest.raises(NotFoundError):
        opened.resolve("../../HEAD..")
