"""Unpacking an artifact: a built artifact comes back as it was, and a crafted archive that
reaches outside its directory is refused by name, leaving nothing behind."""

from __future__ import annotations

import io
import stat
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from andon.artifacts import extracting
from andon.artifacts.building import build_artifact
from andon.artifacts.unpacking import unpack
from andon.errors import ArtifactError, ConflictError
from andon.spec import PackageSpec


def file(name: str, data: bytes = b"data") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name: str, kind: bytes, target: str = "") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def symlink(name: str, target: str) -> tuple[tarfile.TarInfo, bytes | None]:
    return special(name, tarfile.SYMTYPE, target)


def hardlink(name: str, target: str) -> tuple[tarfile.TarInfo, bytes | None]:
    return special(name, tarfile.LNKTYPE, target)


def directory(name: str) -> tuple[tarfile.TarInfo, bytes | None]:
    return special(name, tarfile.DIRTYPE)


def write_archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def leftovers(parent: Path) -> list[str]:
    return sorted(path.name for path in parent.iterdir() if path.name.startswith("."))


def test_a_built_artifact_unpacks_to_the_files_it_was_built_from(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    (workspace / "shop" / "bin").mkdir(parents=True)
    (workspace / "shop" / "app.py").write_text("print('shop')\n")
    (workspace / "shop" / "bin" / "run").write_text("#!/bin/sh\n")
    (workspace / "shop" / "bin" / "run").chmod(0o755)
    (workspace / "shop" / "main.py").symlink_to("app.py")
    (workspace / "shop" / "empty").mkdir()
    built = build_artifact(
        workspace,
        PackageSpec(paths=["shop"]),
        service="shop",
        commit="1a2b3c4",
        tree="t",
        created_at=datetime(2024, 5, 1, tzinfo=UTC),
        out_dir=tmp_path / "out",
    )
    dest = tmp_path / "releases" / "1"

    unpack(built.archive, dest)

    assert (dest / "shop" / "app.py").read_text() == "print('shop')\n"
    assert (dest / "shop" / "main.py").readlink() == Path("app.py")
    assert (dest / "shop" / "main.py").read_text() == "print('shop')\n"
    assert (dest / "shop" / "bin" / "run").stat().st_mode & stat.S_IXUSR
    assert (dest / "shop" / "empty").is_dir()
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    assert leftovers(dest.parent) == []


def test_an_empty_directory_may_receive_the_artifact(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "a.tar.gz", [file("shop/app.py")])
    dest = tmp_path / "dest"
    dest.mkdir()

    unpack(archive, dest)

    assert (dest / "shop" / "app.py").read_bytes() == b"data"


def test_a_directory_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "a.tar.gz", [file("shop/app.py")])
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "old.txt").write_text("old")

    with pytest.raises(ConflictError, match="exists already and is not an empty directory"):
        unpack(archive, dest)
    assert [path.name for path in dest.iterdir()] == ["old.txt"]


MALICIOUS: dict[str, tuple[list[tuple[tarfile.TarInfo, bytes | None]], str, str]] = {
    "absolute path": ([file("shop/ok.py"), file("/tmp/evil")], "/tmp/evil", "is an absolute path"),
    "dot-dot": ([file("../x")], "../x", "climbs out of the archive with '..'"),
    "dot-dot inside": ([file("shop/../../x")], "shop/../../x", "climbs out"),
    "symlink to /etc": (
        [symlink("shop/etc", "/etc")],
        "shop/etc",
        "is a symbolic link to the absolute path /etc",
    ),
    "symlink climbing out": (
        [symlink("shop/up", "../../outside")],
        "shop/up",
        "is a symbolic link to ../../outside, outside the archive",
    ),
    "symlink through a symlink": (
        [directory("a"), symlink("a/b", "."), symlink("c", "a/b/../..")],
        "c",
        "through the symbolic link a/b",
    ),
    "hard link outside": (
        [hardlink("shop/passwd", "../../etc/passwd")],
        "shop/passwd",
        "is a hard link to ../../etc/passwd, outside the archive",
    ),
    "hard link absolute": (
        [hardlink("shop/passwd", "/etc/passwd")],
        "shop/passwd",
        "is a hard link to /etc/passwd, outside the archive",
    ),
    "hard link to nothing earlier": (
        [hardlink("shop/a", "shop/b"), file("shop/b")],
        "shop/a",
        "which is not a file earlier in the archive",
    ),
    "member under a symlinked directory": (
        [directory("shop"), symlink("shop/lib", "."), file("shop/lib/evil.py")],
        "shop/lib/evil.py",
        "lies under the symbolic link shop/lib",
    ),
    "member under a symlink to outside": (
        [symlink("tmp", "/tmp"), file("tmp/evil")],
        "tmp",
        "is a symbolic link to the absolute path /tmp",
    ),
    "character device": (
        [special("shop/null", tarfile.CHRTYPE)],
        "shop/null",
        "is a device file",
    ),
    "block device": ([special("shop/sda", tarfile.BLKTYPE)], "shop/sda", "is a device file"),
    "named pipe": ([special("shop/fifo", tarfile.FIFOTYPE)], "shop/fifo", "is a named pipe"),
    "name twice": (
        [file("shop/app.py"), file("shop/app.py", b"other")],
        "shop/app.py",
        "appears twice in the archive",
    ),
}


@pytest.fixture(params=[True, False], ids=["with filters", "without filters"])
def filters(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Python's tarfile with extraction filters (3.11.4 on), and without (3.11.0 to 3.11.3)."""
    if request.param and not extracting.HAS_FILTERS:
        pytest.skip("this Python's tarfile has no extraction filters")
    monkeypatch.setattr(extracting, "HAS_FILTERS", request.param)
    return bool(request.param)


@pytest.mark.parametrize(("members", "member", "problem"), MALICIOUS.values(), ids=MALICIOUS)
def test_a_crafted_archive_is_refused_naming_the_member_and_leaves_nothing(
    tmp_path: Path,
    filters: bool,
    members: list[tuple[tarfile.TarInfo, bytes | None]],
    member: str,
    problem: str,
) -> None:
    archive = write_archive(tmp_path / "evil.tar.gz", members)
    dest = tmp_path / "releases" / "1"

    with pytest.raises(ArtifactError) as caught:
        unpack(archive, dest)

    message = str(caught.value)
    assert message.startswith(f"refusing to unpack {archive}: member {member!r} ")
    assert problem in message
    assert message.endswith("so rebuild the artifact.")
    assert not dest.exists()
    assert leftovers(dest.parent) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["evil.tar.gz", "releases"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"not a gzip file at all", "not a gzip file"), (b"", "empty file")],
)
def test_an_archive_that_cannot_be_read_leaves_nothing(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(content)
    dest = tmp_path / "dest"

    with pytest.raises(ArtifactError, match=f"cannot unpack {archive} into {dest}: {reason}; "):
        unpack(archive, dest)
    assert not dest.exists()
    assert leftovers(tmp_path) == []


def test_the_data_filter_stops_what_the_checks_would_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unchecked: Callable[..., None] = lambda *_, **__: None  # noqa: E731
    monkeypatch.setattr(extracting, "check_members", unchecked)
    archive = write_archive(tmp_path / "evil.tar.gz", [symlink("shop/etc", "/etc")])
    dest = tmp_path / "dest"

    with pytest.raises(
        ArtifactError,
        match=r"member 'shop/etc' is stopped by the extraction filter \('shop/etc' is a link",
    ):
        unpack(archive, dest)
    assert not dest.exists()
    assert leftovers(tmp_path) == []


def test_without_filters_members_lose_set_id_bits_and_others_write_as_with_them(
    tmp_path: Path, filters: bool
) -> None:
    risky, shared = file("shop/run.sh", b"#!/bin/sh\n"), file("shop/data.txt")
    risky[0].mode, shared[0].mode = 0o4777, 0o0066
    archive = write_archive(tmp_path / "modes.tar.gz", [directory("shop"), risky, shared])
    dest = tmp_path / "dest"

    unpack(archive, dest)

    assert stat.S_IMODE((dest / "shop" / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "shop" / "data.txt").stat().st_mode) == 0o644
    assert (dest / "shop" / "run.sh").read_bytes() == b"#!/bin/sh\n"
