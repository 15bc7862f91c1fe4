"""The local artifact store: content-addressed files, atomic puts that leave nothing behind
on failure, and verification that names what was modified."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from andon.artifacts.building import BuiltArtifact, build_artifact
from andon.artifacts.local_store import ArtifactStore, LocalArtifactStore
from andon.errors import ArtifactError, NotFoundError, UsageError
from andon.spec import PackageSpec

COMMIT = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FILES = {"shop/__init__.py": "", "shop/app.py": "print('shop')\n", "shop/db.py": "DB = 1\n"}


def build(workspace: Path, out_dir: Path, *, created_at: datetime = WHEN) -> BuiltArtifact:
    for name, text in FILES.items():
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(text)
    (workspace / "shop" / "main.py").unlink(missing_ok=True)
    (workspace / "shop" / "main.py").symlink_to("app.py")
    return build_artifact(
        workspace,
        PackageSpec(paths=["shop"]),
        service="shop",
        commit=COMMIT,
        tree="f" * 40,
        created_at=created_at,
        out_dir=out_dir,
    )


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def built(tmp_path: Path, store: LocalArtifactStore) -> BuiltArtifact:
    return build(tmp_path / "workspace", store.staging)


def stored_files(store: LocalArtifactStore) -> list[str]:
    """Every file of the store outside staging, relative to its root."""
    return sorted(
        path.relative_to(store.root).as_posix()
        for path in (store.root / "sha256").rglob("*")
        if path.is_file()
    )


def tamper(path: Path, change: Callable[[bytes], bytes]) -> None:
    path.chmod(0o644)
    path.write_bytes(change(path.read_bytes()))


def test_put_keeps_the_artifact_under_its_content_address(
    store: LocalArtifactStore, built: BuiltArtifact
) -> None:
    stored = store.put(built)
    hex_digest = built.digest.removeprefix("sha256:")

    assert stored_files(store) == [
        f"sha256/{hex_digest[:2]}/{hex_digest}.manifest.json",
        f"sha256/{hex_digest[:2]}/{hex_digest}.tar.gz",
    ]
    assert stored.path == store.path(built.digest)
    assert stored.path.read_bytes() == built.archive.read_bytes()
    assert (stored.digest, stored.size, stored.manifest) == (
        built.digest,
        built.size,
        built.manifest,
    )
    assert store.exists(built.digest)
    assert store.manifest(built.digest) == built.manifest
    assert store.verify(built.digest) == built.manifest


def test_the_local_store_is_an_artifact_store(store: LocalArtifactStore) -> None:
    typed: ArtifactStore = store
    assert typed is store


def test_putting_a_stored_digest_again_keeps_the_first(
    tmp_path: Path, store: LocalArtifactStore, built: BuiltArtifact
) -> None:
    first = store.put(built)
    inode = first.path.stat().st_ino
    again = build(tmp_path / "workspace", store.staging, created_at=WHEN + timedelta(days=1))
    assert again.digest == built.digest

    second = store.put(again)

    assert second.path.stat().st_ino == inode
    assert second.manifest.created_at == WHEN


def test_a_changed_byte_in_the_archive_fails_verification_naming_the_artifact(
    store: LocalArtifactStore, built: BuiltArtifact
) -> None:
    stored = store.put(built)
    middle = stored.size // 2
    tamper(
        stored.path, lambda data: data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
    )

    with pytest.raises(ArtifactError) as caught:
        store.verify(built.digest)

    message = str(caught.value)
    assert message.startswith(f"artifact {built.digest[:19]}… was modified after it was built: ")
    assert message.endswith("; rebuild it by rerunning the pipeline for commit 1a2b3c4.")


def test_an_archive_swapped_for_another_names_the_file_that_differs(
    tmp_path: Path, store: LocalArtifactStore, built: BuiltArtifact
) -> None:
    stored = store.put(built)
    (tmp_path / "workspace" / "shop" / "app.py").write_text("print('evil')\n")
    evil = build(tmp_path / "workspace", store.staging)
    tamper(stored.path, lambda _: evil.archive.read_bytes())

    with pytest.raises(ArtifactError, match=r"built: shop/app\.py does not match its manifest; "):
        store.verify(built.digest)


def test_a_manifest_edited_to_match_other_content_names_the_file(
    store: LocalArtifactStore, built: BuiltArtifact
) -> None:
    store.put(built)
    manifest_path = store.path(built.digest).with_name(
        built.digest.removeprefix("sha256:") + ".manifest.json"
    )
    data = json.loads(manifest_path.read_bytes())
    data["files"]["shop/db.py"]["sha256"] = "0" * 64
    tamper(manifest_path, lambda _: json.dumps(data).encode())

    with pytest.raises(ArtifactError, match=r"built: shop/db\.py does not match its manifest"):
        store.verify(built.digest)


@pytest.mark.parametrize(
    ("edit", "complaint"),
    [
        (lambda data: data["files"].pop("shop/app.py"), r"shop/app\.py is not in its manifest"),
        (
            lambda data: data["files"].update(
                {"shop/extra.py": {"sha256": "0" * 64, "size": 1, "mode": "0644"}}
            ),
            r"shop/extra\.py is in its manifest but not in the archive",
        ),
        (
            lambda data: data["links"].update({"shop/main.py": "db.py"}),
            r"the link shop/main\.py does not match its manifest",
        ),
        (
            lambda data: data.update({"archive_sha256": "0" * 64}),
            "its manifest describes another archive",
        ),
        (lambda data: data.update({"archive_size": 1}), "its manifest describes another archive"),
    ],
    ids=["file-dropped", "file-added", "link-changed", "other-archive", "other-size"],
)
def test_a_tampered_manifest_fails_verification(
    store: LocalArtifactStore,
    built: BuiltArtifact,
    edit: Callable[[dict[str, object]], object],
    complaint: str,
) -> None:
    store.put(built)
    hex_digest = built.digest.removeprefix("sha256:")
    manifest_path = store.path(built.digest).with_name(f"{hex_digest}.manifest.json")
    data = json.loads(manifest_path.read_bytes())
    edit(data)
    tamper(manifest_path, lambda _: json.dumps(data).encode())

    with pytest.raises(ArtifactError, match=f"was modified after it was built: {complaint}"):
        store.verify(built.digest)


def test_an_unreadable_manifest_is_reported(
    store: LocalArtifactStore, built: BuiltArtifact
) -> None:
    store.put(built)
    hex_digest = built.digest.removeprefix("sha256:")
    tamper(store.path(built.digest).with_name(f"{hex_digest}.manifest.json"), lambda _: b"{")

    with pytest.raises(ArtifactError, match="is unreadable: it is not JSON"):
        store.verify(built.digest)


def _failing_on_call(number: int, real: Callable[..., object]) -> Callable[..., object]:
    calls = 0

    def failing(*args: object) -> object:
        nonlocal calls
        calls += 1
        if calls == number:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args)

    return failing


@pytest.mark.parametrize("failing_sync", [1, 2], ids=["archive", "manifest"])
def test_a_full_disk_during_put_leaves_nothing_behind(
    store: LocalArtifactStore,
    built: BuiltArtifact,
    monkeypatch: pytest.MonkeyPatch,
    failing_sync: int,
) -> None:
    monkeypatch.setattr(os, "fsync", _failing_on_call(failing_sync, os.fsync))

    with pytest.raises(ArtifactError) as caught:
        store.put(built)

    assert str(caught.value) == (
        f"cannot store artifact {built.digest[:19]}…: the disk holding {store.root} is full; "
        "free space (or delete old artifacts) and rerun the pipeline for commit 1a2b3c4."
    )
    assert stored_files(store) == []
    assert not store.exists(built.digest)


def test_a_failed_manifest_rename_takes_the_archive_back(
    store: LocalArtifactStore, built: BuiltArtifact, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "replace", _failing_on_call(2, os.replace))

    with pytest.raises(ArtifactError, match="is full"):
        store.put(built)

    assert stored_files(store) == []


def test_other_failures_during_put_say_what_failed(
    store: LocalArtifactStore, built: BuiltArtifact
) -> None:
    built.discard()

    with pytest.raises(ArtifactError, match=f"No such file or directory \\({built.archive}\\)"):
        store.put(built)
    assert stored_files(store) == []


def test_an_archive_changed_since_it_was_built_is_not_stored(
    store: LocalArtifactStore, built: BuiltArtifact
) -> None:
    built.archive.write_bytes(built.archive.read_bytes() + b"\0")

    with pytest.raises(ArtifactError, match="no longer has that digest"):
        store.put(built)
    assert stored_files(store) == []


def test_a_manifest_of_another_archive_is_not_stored(
    store: LocalArtifactStore, built: BuiltArtifact
) -> None:
    other = dataclasses.replace(built, digest="sha256:" + "0" * 64)

    with pytest.raises(ArtifactError, match="its manifest describes another archive"):
        store.put(other)


def test_delete_forgets_the_artifact_and_may_be_repeated(
    store: LocalArtifactStore, built: BuiltArtifact
) -> None:
    store.put(built)

    store.delete(built.digest)
    store.delete(built.digest)

    assert not store.exists(built.digest)
    assert stored_files(store) == []


@pytest.mark.parametrize("call", ["path", "manifest", "verify"])
def test_an_unknown_artifact_is_not_found(store: LocalArtifactStore, call: str) -> None:
    with pytest.raises(NotFoundError, match=r"there is no artifact sha256:000000000000… in "):
        getattr(store, call)("sha256:" + "0" * 64)


@pytest.mark.parametrize("digest", ["abc", "sha256:ABC", "sha256:../../etc", "md5:" + "0" * 64])
def test_a_malformed_digest_is_a_usage_error(store: LocalArtifactStore, digest: str) -> None:
    with pytest.raises(UsageError, match="is not an artifact digest"):
        store.exists(digest)
