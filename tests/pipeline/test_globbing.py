"""Globs over a workspace as andon.yaml writes them: ``*`` stays in its directory, ``**``
crosses any number, a directory's name takes in what is below it, and links are never
followed."""

from __future__ import annotations

from pathlib import Path

import pytest

from andon.pipeline._globbing import find_files

FILES = [
    "requirements.txt",
    "shop/__init__.py",
    "shop/api/routes.py",
    "shop/api/deep/er.py",
    "shop/static/app.js",
    "tests/test_cart.py",
    "reports/junit-0.xml",
    "reports/junit-1.xml",
    "reports/coverage.xml",
    ".env.example",
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    return tmp_path


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["requirements.txt"], ["requirements.txt"]),
        (["shop/*.py"], ["shop/__init__.py"]),
        (
            ["shop/**/*.py"],
            ["shop/__init__.py", "shop/api/deep/er.py", "shop/api/routes.py"],
        ),
        (["**/*.xml"], ["reports/coverage.xml", "reports/junit-0.xml", "reports/junit-1.xml"]),
        (["reports/junit-?.xml"], ["reports/junit-0.xml", "reports/junit-1.xml"]),
        (["reports/junit-[!0].xml"], ["reports/junit-1.xml"]),
        (["shop/api"], ["shop/api/deep/er.py", "shop/api/routes.py"]),
        (["./tests/", "*.txt"], ["requirements.txt", "tests/test_cart.py"]),
        (["*"], sorted(FILES)),
        (["../*", "/etc/passwd", "nothing/*"], []),
        ([], []),
    ],
    ids=[
        "plain-file",
        "star-stays-in-its-directory",
        "double-star-crosses-directories",
        "double-star-at-the-start",
        "question-mark",
        "negated-class",
        "directory-takes-in-its-files",
        "dot-slash-and-several",
        "star-takes-in-everything-below",
        "nothing-outside",
        "no-patterns",
    ],
)
def test_patterns_match(root: Path, patterns: list[str], expected: list[str]) -> None:
    assert find_files(root, patterns) == expected


def test_links_count_as_files_and_are_not_followed(root: Path, tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "secret.py").write_text("")
    (root / "shop/linked").symlink_to(outside, target_is_directory=True)
    (root / "shop/loop").symlink_to(root / "shop", target_is_directory=True)

    found = find_files(root, ["shop/**"])

    assert "shop/linked" in found
    assert "shop/loop" in found
    assert not any(path.startswith(("shop/linked/", "shop/loop/")) for path in found)
