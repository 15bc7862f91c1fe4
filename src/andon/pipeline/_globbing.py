"""Globs over a workspace's files as andon.yaml writes them (``shop/**/*.py``,
``requirements.txt``, ``reports/junit-*.xml``), for cache inputs and test reports.

``*``, ``?`` and ``[...]`` match within one path segment, ``**`` matches any number of
directories, and a pattern that names a directory matches every file below it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path


def compile_globs(patterns: Sequence[str]) -> re.Pattern[str]:
    """One expression matching a relative POSIX path that any of ``patterns`` names."""
    alternatives = [_translate(pattern) for pattern in patterns]
    return re.compile("|".join(f"(?:{regex})" for regex in alternatives) or "(?!)")


def find_files(root: Path, patterns: Sequence[str]) -> list[str]:
    """Relative POSIX paths of the files under ``root`` that ``patterns`` match, sorted.

    Symbolic links count as files and are never followed, so a link cannot lead the search
    out of ``root`` or round in a loop.
    """
    if not patterns:
        return []
    matcher = compile_globs(patterns)
    found: list[str] = []
    for directory, dirs, files in os.walk(root):
        base = Path(directory).relative_to(root).as_posix()
        prefix = "" if base == "." else f"{base}/"
        links = [name for name in dirs if (Path(directory) / name).is_symlink()]
        for name in [*files, *links]:
            path = prefix + name
            if _matches(matcher, path):
                found.append(path)
    return sorted(found)


def _matches(matcher: re.Pattern[str], path: str) -> bool:
    """Whether ``path`` or a directory above it matches."""
    parts = path.split("/")
    return any(matcher.fullmatch("/".join(parts[:end])) for end in range(len(parts), 0, -1))


def _translate(pattern: str) -> str:
    segments = [part for part in pattern.strip().strip("/").split("/") if part not in ("", ".")]
    regex = ""
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            regex += ".*" if last else "(?:[^/]+/)*"
        else:
            regex += _translate_segment(segment) + ("" if last else "/")
    return regex


def _translate_segment(segment: str) -> str:
    regex = ""
    position = 0
    while position < len(segment):
        char = segment[position]
        position += 1
        if char == "*":
            regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        elif char == "[":
            close = segment.find("]", position + 1)
            if close == -1:
                regex += re.escape(char)
                continue
            inside = segment[position:close]
            negate = inside[:1] in ("!", "^")
            inside = inside[1:] if negate else inside
            escaped = "".join("-" if c == "-" else re.escape(c) for c in inside)
            regex += f"[{'^/' if negate else ''}{escaped}]"
            position = close + 1
        else:
            regex += re.escape(char)
    return regex
