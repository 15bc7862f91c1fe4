"""The results parts of bench/README.md: each sits between two markers,

    <!-- bench:pipeline:begin -->
    … what the last run printed …
    <!-- bench:pipeline:end -->

and ``python -m bench`` replaces what is between them; the prose around them is the
authors' and is never touched. Pure text in, text out, and nothing else from the benchmarks
imported, so that tests can load this file alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_MARKER = re.compile(r"^<!-- bench:(?P<name>[a-z0-9-]+):(?P<end>begin|end) -->$", re.MULTILINE)


class MarkerError(ValueError):
    """The README's markers do not pair up; the message says where and how to fix it."""


def begin_marker(name: str) -> str:
    return f"<!-- bench:{name}:begin -->"


def end_marker(name: str) -> str:
    return f"<!-- bench:{name}:end -->"


def marked_sections(text: str) -> dict[str, tuple[int, int]]:
    """Each marked section's name and the span of its body (the text between its two
    marker lines), in the order they appear. MarkerError when a marker is unpaired,
    repeated or nested in another section. No side effects."""
    sections: dict[str, tuple[int, int]] = {}
    open_name: str | None = None
    body_start = 0
    for match in _MARKER.finditer(text):
        name, where = match["name"], _line_of(text, match.start())
        if match["end"] == "begin":
            if open_name is not None:
                raise MarkerError(
                    f"line {where}: section '{name}' begins inside '{open_name}'; "
                    f"add '{end_marker(open_name)}' before it."
                )
            if name in sections:
                raise MarkerError(f"line {where}: section '{name}' is marked twice; keep one.")
            open_name = name
            body_start = match.end() + (text[match.end() : match.end() + 1] == "\n")
        else:
            if open_name != name:
                raise MarkerError(
                    f"line {where}: '{end_marker(name)}' ends no open section; "
                    f"add '{begin_marker(name)}' before it or remove it."
                )
            sections[name] = (body_start, match.start())
            open_name = None
    if open_name is not None:
        raise MarkerError(f"section '{open_name}' never ends; add '{end_marker(open_name)}'.")
    return sections


def replace_sections(text: str, bodies: Mapping[str, str]) -> str:
    """``text`` with the body of each section named in ``bodies`` replaced by the new one
    (set off by a blank line from each marker); every other character kept. MarkerError
    when the text has no section of one of those names. No side effects."""
    sections = marked_sections(text)
    missing = sorted(set(bodies) - set(sections))
    if missing:
        wanted = ", ".join(begin_marker(name) for name in missing)
        raise MarkerError(f"no section for {', '.join(missing)}; add {wanted} and its end marker.")
    pieces: list[str] = []
    kept_from = 0
    for name, (start, end) in sections.items():
        if name not in bodies:
            continue
        pieces += [text[kept_from:start], "\n", bodies[name].strip("\n"), "\n\n"]
        kept_from = end
    pieces.append(text[kept_from:])
    return "".join(pieces)


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1
