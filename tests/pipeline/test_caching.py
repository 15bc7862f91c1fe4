"""Cache keys change exactly when something that decides a job's result changes, and cache
directories come back in a later workspace of the same project's job, and only there."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from andon.pipeline import CacheDirectories, PlannedJob, compute_cache_key

TREE = "4b825dc642cb6eb9a060e54bf8d69288fbc4904a"


def job(**changes: object) -> PlannedJob:
    base = PlannedJob(
        name="unit",
        job="unit",
        stage="test",
        command="pytest",
        needs=("compile",),
        inputs=("src/**/*.py", "requirements.txt"),
        env={"MODE": "fast"},
        cache=(".cache/pip",),
        cache_key=("requirements.txt",),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    for name, text in {
        "src/app/main.py": "x = 1\n",
        "src/app/util.py": "y = 2\n",
        "requirements.txt": "flask==3.0\n",
        "README.md": "docs\n",
        "src/app/data.json": "{}\n",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def key(planned: PlannedJob, workspace: Path, needs: str = "k1", tree: str = TREE) -> str:
    return compute_cache_key(planned, workspace, needs={"compile": needs}, tree=tree)


def test_the_key_is_a_sha256_and_stable(workspace: Path) -> None:
    first = key(job(), workspace)

    assert len(first) == 64
    assert int(first, 16) >= 0
    assert key(job(), workspace) == first


def test_the_key_changes_when_an_input_file_changes(workspace: Path) -> None:
    before = key(job(), workspace)
    (workspace / "src/app/util.py").write_text("y = 3\n")

    assert key(job(), workspace) != before


def test_the_key_changes_when_an_input_file_appears_or_moves(workspace: Path) -> None:
    before = key(job(), workspace)
    (workspace / "src/app/new.py").write_text("")
    added = key(job(), workspace)
    os.rename(workspace / "src/app/new.py", workspace / "src/app/renamed.py")

    assert len({before, added, key(job(), workspace)}) == 3


def test_the_key_ignores_files_outside_the_declared_inputs(workspace: Path) -> None:
    before = key(job(), workspace)
    (workspace / "README.md").write_text("other docs\n")
    (workspace / "src/app/data.json").write_text('{"a": 1}\n')

    assert key(job(), workspace) == before
    assert key(job(), workspace, tree="another tree") == before


@pytest.mark.parametrize(
    "change",
    [
        {"command": "pytest -x"},
        {"env": {"MODE": "slow"}},
        {"env": {"MODE": "fast", "EXTRA": "1"}},
        {"shard_index": 1, "shard_total": 2},
        {"job": "integration", "name": "integration"},
        {"inputs": ("src/**/*.py",)},
    ],
    ids=["command", "env-value", "env-added", "shard", "job", "inputs-globs"],
)
def test_the_key_changes_with_what_the_job_is(workspace: Path, change: dict[str, object]) -> None:
    assert key(job(**change), workspace) != key(job(), workspace)


def test_the_key_changes_when_a_needed_jobs_key_changes(workspace: Path) -> None:
    assert key(job(), workspace, needs="k1") != key(job(), workspace, needs="k2")


def test_without_inputs_any_change_of_the_tree_changes_the_key(workspace: Path) -> None:
    undeclared = job(inputs=())
    before = key(undeclared, workspace, tree=TREE)
    (workspace / "src/app/util.py").write_text("y = 3\n")

    # The files are not read: the tree hash of the commit stands for all of them.
    assert key(undeclared, workspace, tree=TREE) == before
    assert key(undeclared, workspace, tree="another tree") != before


def test_the_key_of_every_needed_job_must_be_given(workspace: Path) -> None:
    with pytest.raises(ValueError, match="compile"):
        compute_cache_key(job(), workspace, needs={}, tree=TREE)


def test_a_symlink_input_is_keyed_by_its_target_without_following_it(workspace: Path) -> None:
    (workspace / "src/app/link.py").symlink_to("/etc/hostname")
    before = key(job(), workspace)
    (workspace / "src/app/link.py").unlink()
    (workspace / "src/app/link.py").symlink_to("/etc/hosts")

    assert key(job(), workspace) != before


def fill_cache(workspace: Path, text: str = "wheel") -> None:
    (workspace / ".cache/pip/wheels").mkdir(parents=True, exist_ok=True)
    (workspace / ".cache/pip/wheels/flask.whl").write_text(text)


def test_cache_directories_come_back_in_a_later_workspace(tmp_path: Path, workspace: Path) -> None:
    caches = CacheDirectories(tmp_path / "cache", "shop")
    fill_cache(workspace)

    saved = caches.save(job(), workspace)
    later = tmp_path / "later"
    (later).mkdir()
    (later / "requirements.txt").write_text("flask==3.0\n")

    assert saved is not None
    assert saved.parent == tmp_path / "cache" / "shop" / "unit"
    assert saved.name == f"{caches.key(job(), workspace)}.tar"
    assert caches.restore(job(), later)
    assert (later / ".cache/pip/wheels/flask.whl").read_text() == "wheel"
    assert not list(saved.parent.glob("*.tmp"))


def test_a_changed_cache_key_file_misses(tmp_path: Path, workspace: Path) -> None:
    caches = CacheDirectories(tmp_path / "cache", "shop")
    fill_cache(workspace)
    caches.save(job(), workspace)
    later = tmp_path / "later"
    later.mkdir()
    (later / "requirements.txt").write_text("flask==3.1\n")

    assert not caches.restore(job(), later)
    assert not (later / ".cache").exists()


def test_without_cache_key_files_the_command_keys_the_cache(
    tmp_path: Path, workspace: Path
) -> None:
    caches = CacheDirectories(tmp_path / "cache", "shop")
    fill_cache(workspace)
    caches.save(job(cache_key=()), workspace)
    later = tmp_path / "later"
    later.mkdir()

    assert caches.restore(job(cache_key=()), later)
    assert not caches.restore(job(cache_key=(), command="pytest -x"), later / "other")


def test_caches_are_never_shared_between_projects(tmp_path: Path, workspace: Path) -> None:
    fill_cache(workspace)
    CacheDirectories(tmp_path / "cache", "shop").save(job(), workspace)
    later = tmp_path / "later"
    later.mkdir()
    (later / "requirements.txt").write_text("flask==3.0\n")

    assert not CacheDirectories(tmp_path / "cache", "billing").restore(job(), later)
    assert not (later / ".cache").exists()


def test_a_missing_or_damaged_cache_is_a_silent_miss(tmp_path: Path, workspace: Path) -> None:
    caches = CacheDirectories(tmp_path / "cache", "shop")
    later = tmp_path / "later"
    later.mkdir()
    (later / "requirements.txt").write_text("flask==3.0\n")

    assert not caches.restore(job(), later)
    target = caches.path(job(), later)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not a tar at all")
    assert not caches.restore(job(), later)
    assert not (later / ".cache").exists()


def test_nothing_is_saved_when_the_job_made_no_cache_directory(
    tmp_path: Path, workspace: Path
) -> None:
    caches = CacheDirectories(tmp_path / "cache", "shop")

    assert caches.save(job(), workspace) is None
    assert caches.save(job(cache=()), workspace) is None
    assert not caches.restore(job(cache=()), workspace)


def test_cache_directories_outside_the_workspace_are_ignored(
    tmp_path: Path, workspace: Path
) -> None:
    caches = CacheDirectories(tmp_path / "cache", "shop")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("no")

    assert caches.save(job(cache=("../outside", "/etc")), workspace) is None


def test_only_the_latest_caches_of_a_job_are_kept(tmp_path: Path, workspace: Path) -> None:
    caches = CacheDirectories(tmp_path / "cache", "shop")
    fill_cache(workspace)
    for version in range(5):
        (workspace / "requirements.txt").write_text(f"flask==3.{version}\n")
        saved = caches.save(job(), workspace)
        assert saved is not None
        os.utime(saved, (1_000_000 + version, 1_000_000 + version))

    kept = sorted((tmp_path / "cache" / "shop" / "unit").glob("*.tar"))

    assert len(kept) == 3
    assert caches.path(job(), workspace) in kept
