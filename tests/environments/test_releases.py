"""Releases: a real artifact built, stored, verified and unpacked where instances run, reused
while intact, replaced whole when changed, and digested for drift."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from andon.artifacts import LocalArtifactStore, build_artifact
from andon.environments import prepare_release, release_digest, release_files
from andon.errors import ArtifactError
from andon.spec import PackageSpec

FILES = {
    "shop/__init__.py": "",
    "shop/app.py": "print('shop')\n",
    "config/shop.toml.j2": "name = {{ shop_name | tojson }}\n",
}


@pytest.fixture
def artifacts(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def digest(tmp_path: Path, artifacts: LocalArtifactStore) -> str:
    workspace = tmp_path / "workspace"
    for name, text in FILES.items():
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_text(text)
    (workspace / "shop" / "main.py").symlink_to("app.py")
    built = build_artifact(
        workspace,
        PackageSpec(paths=["shop", "config"]),
        service="shop",
        commit="1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
        tree="f" * 40,
        created_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        out_dir=artifacts.staging,
    )
    stored = artifacts.put(built)
    built.discard()
    return stored.digest


@pytest.fixture
def env_root(tmp_path: Path) -> Path:
    return tmp_path / "environments" / "shop" / "test"


def test_an_artifact_is_unpacked_under_releases_by_its_short_digest(
    artifacts: LocalArtifactStore, digest: str, env_root: Path
) -> None:
    release = prepare_release(artifacts, digest, env_root)

    assert release == env_root / "releases" / digest.removeprefix("sha256:")[:12]
    assert (release / "shop" / "app.py").read_text() == "print('shop')\n"
    assert os.readlink(release / "shop" / "main.py") == "app.py"
    assert release_digest(release) == release_files(artifacts.manifest(digest))
    assert sorted(p.name for p in (env_root / "releases").iterdir()) == [release.name]


def test_an_intact_release_is_reused_with_its_rendered_config(
    artifacts: LocalArtifactStore, digest: str, env_root: Path
) -> None:
    release = prepare_release(artifacts, digest, env_root)
    (release / "config" / "shop.toml").write_text('name = "shop"\n')
    inode = release.stat().st_ino

    again = prepare_release(artifacts, digest, env_root)

    assert again == release
    assert release.stat().st_ino == inode
    assert (release / "config" / "shop.toml").exists()


def test_a_release_changed_by_hand_is_replaced_by_a_fresh_copy(
    artifacts: LocalArtifactStore, digest: str, env_root: Path
) -> None:
    release = prepare_release(artifacts, digest, env_root)
    (release / "shop" / "app.py").write_text("print('patched in production')\n")
    (release / "shop" / "__init__.py").unlink()

    again = prepare_release(artifacts, digest, env_root)

    assert again == release
    assert (release / "shop" / "app.py").read_text() == "print('shop')\n"
    assert release_digest(release) == release_files(artifacts.manifest(digest))
    assert sorted(p.name for p in (env_root / "releases").iterdir()) == [release.name]


def test_an_artifact_modified_in_the_store_is_refused_and_nothing_is_unpacked(
    artifacts: LocalArtifactStore, digest: str, env_root: Path
) -> None:
    archive = artifacts.path(digest)
    archive.chmod(0o644)
    archive.write_bytes(archive.read_bytes() + b"tampered")

    with pytest.raises(ArtifactError, match="was modified after it was built"):
        prepare_release(artifacts, digest, env_root)

    assert not (env_root / "releases").exists()


def test_release_digest_hashes_files_records_links_and_skips_bytecode_caches(
    tmp_path: Path,
) -> None:
    root = tmp_path / "release"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (root / "pkg" / "mod.py").write_text("x = 1\n")
    (root / "pkg" / "alias.py").symlink_to("mod.py")
    (root / "linked-dir").symlink_to("pkg")

    assert release_digest(root) == {
        "linked-dir": "symlink:pkg",
        "pkg/alias.py": "symlink:mod.py",
        "pkg/mod.py": hashlib.sha256(b"x = 1\n").hexdigest(),
    }
