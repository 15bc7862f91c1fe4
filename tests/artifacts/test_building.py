"""Building an artifact: the same tree gives the same bytes, package.paths and exclude decide
what goes in, vendor/ and the lock file are picked up, and nothing outside the workspace is
ever packaged."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tarfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from andon.artifacts._selecting import is_excluded
from andon.artifacts.building import BuiltArtifact, build_artifact
from andon.artifacts.manifests import Manifest
from andon.errors import ArtifactError
from andon.spec import PackageSpec, load_spec

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"
COMMIT = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
TREE = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

FILES = {
    "shop/__init__.py": "",
    "shop/app.py": "print('shop')\n",
    "shop/__pycache__/app.cpython-311.pyc": "bytecode",
    "shop/tests/test_inner.py": "def test(): pass\n",
    "tests/test_app.py": "def test(): pass\n",
    "migrations/0001.sql": "create table t (id int);\n",
    "requirements.txt": "flask==3.0\n",
    "shop.db": "sqlite",
}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def build(
    workspace: Path,
    out_dir: Path,
    package: PackageSpec | None = None,
    *,
    commit: str = COMMIT,
    created_at: datetime = WHEN,
) -> BuiltArtifact:
    return build_artifact(
        workspace,
        package or PackageSpec(paths=["shop", "migrations", "requirements.txt"]),
        service="shop",
        commit=commit,
        tree=TREE,
        created_at=created_at,
        out_dir=out_dir,
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "workspace", FILES)


def test_the_same_tree_built_twice_gives_byte_identical_archives(
    workspace: Path, tmp_path: Path
) -> None:
    first = build(workspace, tmp_path / "out")
    # Another checkout of the same tree: other mtimes and permissions, later, another commit.
    other = write_tree(tmp_path / "elsewhere", FILES)
    for path in other.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000))
        if path.is_file():
            path.chmod(0o600)
    second = build(other, tmp_path / "out", created_at=WHEN + timedelta(days=3), commit="f" * 40)

    assert first.digest == second.digest
    assert first.archive != second.archive
    assert first.archive.read_bytes() == second.archive.read_bytes()
    assert first.manifest.created_at != second.manifest.created_at


def test_the_digest_names_the_archive_bytes_and_changes_with_a_file(
    workspace: Path, tmp_path: Path
) -> None:
    before = build(workspace, tmp_path / "out")
    (workspace / "shop" / "app.py").write_text("print('changed')\n")
    after = build(workspace, tmp_path / "out")

    assert before.digest == f"sha256:{hashlib.sha256(before.archive.read_bytes()).hexdigest()}"
    assert before.size == before.archive.stat().st_size == before.manifest.archive_size
    assert before.digest != after.digest


def test_archive_entries_are_sorted_owned_by_root_at_time_zero_with_normal_modes(
    workspace: Path, tmp_path: Path
) -> None:
    (workspace / "shop" / "run.sh").write_text("#!/bin/sh\n")
    (workspace / "shop" / "run.sh").chmod(0o700)
    (workspace / "shop" / "app.py").chmod(0o666)
    built = build(workspace, tmp_path / "out")

    raw = built.archive.read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # the gzip header's mtime
    with tarfile.open(built.archive, "r:gz") as tar:
        members = tar.getmembers()
    names = [member.name for member in members]
    assert names == sorted(names, key=lambda name: name.split("/"))
    assert not any(name.startswith("/") for name in names)
    for member in members:
        assert (member.uid, member.gid, member.uname, member.gname, member.mtime) == (
            0,
            0,
            "",
            "",
            0,
        )
    modes = {member.name: member.mode for member in members}
    assert modes["shop"] == 0o755
    assert modes["shop/run.sh"] == 0o755
    assert modes["shop/app.py"] == 0o644
    assert built.manifest.files["shop/run.sh"].mode == 0o755


def test_excluded_files_and_directories_are_left_out(workspace: Path, tmp_path: Path) -> None:
    write_tree(workspace, {"shop/static/site.css": "", "build/out.txt": "", "shop/build": ""})
    package = PackageSpec(
        paths=["."],
        exclude=["**/__pycache__", "tests", "*.db", "shop/static", "build/"],
    )
    built = build(workspace, tmp_path / "out", package)

    assert sorted(built.manifest.files) == [
        "migrations/0001.sql",
        "requirements.txt",
        "shop/__init__.py",
        "shop/app.py",
        # "build/" leaves out directories only, so the file called build stays.
        "shop/build",
    ]


def test_a_named_path_below_an_excluded_directory_is_left_out(
    workspace: Path, tmp_path: Path
) -> None:
    package = PackageSpec(paths=["shop/app.py", "shop/tests/test_inner.py"], exclude=["tests"])
    built = build(workspace, tmp_path / "out", package)

    assert list(built.manifest.files) == ["shop/app.py"]


@pytest.mark.parametrize(
    ("pattern", "path", "directory", "excluded"),
    [
        ("tests", "tests", True, True),
        ("tests", "shop/tests", True, True),
        ("tests", "shop/tests_helper.py", False, False),
        ("*.db", "shop.db", False, True),
        ("*.db", "data/cache/shop.db", False, True),
        ("*.py", "shop/app.py", False, True),
        ("**/__pycache__", "__pycache__", True, True),
        ("**/__pycache__", "shop/deep/__pycache__", True, True),
        ("shop/static", "shop/static", True, True),
        ("shop/static", "other/shop/static", True, False),
        ("/tests", "tests", True, True),
        ("/tests", "shop/tests", True, False),
        ("./tests", "shop/tests", True, False),
        ("shop/*.py", "shop/app.py", False, True),
        ("shop/*.py", "shop/sub/app.py", False, False),
        ("shop/**/*.py", "shop/sub/deep/app.py", False, True),
        ("shop/**", "shop/anything", False, True),
        ("build/", "build", True, True),
        ("build/", "build", False, False),
        ("Tests", "tests", True, False),
        ("te?ts", "tests", True, True),
        ("[tb]ests", "bests", False, True),
    ],
)
def test_exclude_patterns_match_by_component(
    pattern: str, path: str, directory: bool, excluded: bool
) -> None:
    assert is_excluded(path, [pattern], directory=directory) is excluded


def test_an_empty_exclude_pattern_is_refused(workspace: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"package\.exclude has the pattern '/'"):
        build(workspace, tmp_path / "out", PackageSpec(paths=["shop"], exclude=["/"]))


def test_the_vendor_directory_is_included_when_the_vendor_step_made_one(
    workspace: Path, tmp_path: Path
) -> None:
    write_tree(workspace, {"vendor/flask/__init__.py": "", "vendor/flask/__pycache__/x.pyc": ""})
    package = PackageSpec(
        paths=["shop"], exclude=["**/__pycache__"], vendor="pip install --target vendor flask"
    )
    built = build(workspace, tmp_path / "out", package)

    assert "vendor/flask/__init__.py" in built.manifest.files
    assert "vendor/flask/__pycache__/x.pyc" not in built.manifest.files


def test_vendor_is_left_out_without_a_vendor_step(workspace: Path, tmp_path: Path) -> None:
    write_tree(workspace, {"vendor/flask/__init__.py": ""})
    built = build(workspace, tmp_path / "out", PackageSpec(paths=["shop"]))

    assert not any(name.startswith("vendor/") for name in built.manifest.files)


def test_a_vendor_step_that_made_no_directory_is_fine(workspace: Path, tmp_path: Path) -> None:
    built = build(workspace, tmp_path / "out", PackageSpec(paths=["shop"], vendor="true"))

    assert "shop/app.py" in built.manifest.files


def test_the_lock_file_is_recorded_with_its_sha256(workspace: Path, tmp_path: Path) -> None:
    package = PackageSpec(paths=["shop"], lock="requirements.txt")
    built = build(workspace, tmp_path / "out", package)

    assert built.manifest.lock is not None
    assert built.manifest.lock.path == "requirements.txt"
    assert built.manifest.lock.sha256 == hashlib.sha256(b"flask==3.0\n").hexdigest()


def test_a_lock_file_that_does_not_exist_is_recorded_as_none(
    workspace: Path, tmp_path: Path
) -> None:
    package = PackageSpec(paths=["shop"], lock="poetry.lock")

    assert build(workspace, tmp_path / "out", package).manifest.lock is None


def test_a_missing_path_is_refused_naming_it(workspace: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"package.paths names config, which does not exist"):
        build(workspace, tmp_path / "out", PackageSpec(paths=["shop", "config"]))


@pytest.mark.parametrize("path", ["../outside", "shop/../../outside", "/etc"])
def test_a_path_outside_the_workspace_is_refused(
    path: str, workspace: Path, tmp_path: Path
) -> None:
    (tmp_path / "outside").write_text("secret")

    with pytest.raises(ArtifactError, match=f"package.paths names {path}, (an absolute|which is)"):
        build(workspace, tmp_path / "out", PackageSpec(paths=[path]))


def test_a_path_under_a_link_leading_outside_is_refused(workspace: Path, tmp_path: Path) -> None:
    write_tree(tmp_path, {"outside/secret.txt": "secret"})
    (workspace / "data").symlink_to(tmp_path / "outside")

    with pytest.raises(ArtifactError, match=r"data/secret\.txt, which lies under a symbolic link"):
        build(workspace, tmp_path / "out", PackageSpec(paths=["data/secret.txt"]))


@pytest.mark.parametrize("target", ["../../outside.txt", "ABSOLUTE"])
def test_a_symbolic_link_pointing_outside_the_workspace_is_refused(
    target: str, workspace: Path, tmp_path: Path
) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    link_target = str(tmp_path / "outside.txt") if target == "ABSOLUTE" else target
    (workspace / "shop" / "secret.txt").symlink_to(link_target)

    with pytest.raises(ArtifactError, match=r"cannot package shop/secret.txt: it is a symbolic"):
        build(workspace, tmp_path / "out")


def test_symbolic_links_inside_the_workspace_are_kept_as_relative_links(
    workspace: Path, tmp_path: Path
) -> None:
    (workspace / "shop" / "main.py").symlink_to("app.py")
    (workspace / "shop" / "absolute.py").symlink_to(workspace / "shop" / "app.py")
    (workspace / "shop" / "migrations").symlink_to("../migrations")
    built = build(workspace, tmp_path / "out")

    assert built.manifest.links == {
        "shop/absolute.py": "app.py",
        "shop/main.py": "app.py",
        "shop/migrations": "../migrations",
    }
    assert "shop/main.py" not in built.manifest.files
    with tarfile.open(built.archive, "r:gz") as tar:
        assert tar.getmember("shop/main.py").issym()


def test_a_named_pipe_is_refused(workspace: Path, tmp_path: Path) -> None:
    os.mkfifo(workspace / "shop" / "events")

    with pytest.raises(ArtifactError, match="cannot package shop/events: it is a named pipe"):
        build(workspace, tmp_path / "out")


def test_a_workspace_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="is not a directory"):
        build(tmp_path / "nowhere", tmp_path / "out")


def test_created_at_must_know_its_time_zone(workspace: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build(workspace, tmp_path / "out", created_at=datetime(2024, 5, 1))


def test_a_full_disk_while_building_leaves_no_archive_behind(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "addfile", full)
    out = tmp_path / "out"

    with pytest.raises(ArtifactError, match="No space left on device; free space there"):
        build(workspace, out)
    assert list(out.iterdir()) == []


def test_the_manifest_records_what_was_built_and_round_trips_through_json(
    workspace: Path, tmp_path: Path
) -> None:
    created = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    built = build(workspace, tmp_path / "out", created_at=created)
    data = json.loads(built.manifest.to_json())

    assert data["format"] == 1
    assert (data["service"], data["commit"], data["tree"]) == ("shop", COMMIT, TREE)
    assert data["created_at"] == "2024-05-01T12:00:00Z"
    assert data["files"]["shop/app.py"]["mode"] == "0644"
    assert data["files"]["shop/app.py"]["size"] == len("print('shop')\n")
    assert data["archive_sha256"] == built.digest.removeprefix("sha256:")
    assert data["archive_size"] == built.size
    assert Manifest.from_json(built.manifest.to_json()) == built.manifest


def test_a_manifest_of_a_newer_format_is_refused(workspace: Path, tmp_path: Path) -> None:
    data = build(workspace, tmp_path / "out").manifest.to_dict()

    with pytest.raises(ValueError, match="its format is 2 but this Andon reads format 1"):
        Manifest.from_dict({**data, "format": 2})


def test_the_example_shop_packages_its_code_without_tests(tmp_path: Path) -> None:
    spec = load_spec(SHOP / "andon.yaml")
    built = build_artifact(
        SHOP,
        spec.package,
        service=spec.service.name,
        commit=COMMIT,
        tree=TREE,
        created_at=WHEN,
        out_dir=tmp_path / "out",
    )
    files = built.manifest.files

    assert "shop/app.py" in files
    assert "migrations/0001_catalog.sql" in files
    assert "requirements.txt" in files
    assert not [name for name in files if "tests" in name.split("/")]
    assert not [name for name in files if "__pycache__" in name or name.endswith(".db")]
    assert built.manifest.lock is not None
    assert built.manifest.lock.path == "requirements.txt"
