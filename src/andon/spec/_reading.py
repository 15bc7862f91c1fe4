"""Read YAML text into plain Python data plus the line and column of every key and value.

ruamel.yaml keeps positions on its round-trip containers; this module copies the
document into plain dicts, lists and scalars (what pydantic validates) and records the
positions beside it, so that every later problem can be located. YAML errors become
located problems here; nothing below raises anything but :class:`ReadError`.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

from andon.spec.problems import DataPath, Problem, dotted

MAX_BYTES = 1024 * 1024
"""Larger files are refused before parsing: andon.yaml describes a service, not data."""
MAX_VALUES = 100_000
"""Aliases can make a small file expand enormously ("billion laughs"); stop early."""
MAX_DEPTH = 64

Position = tuple[int, int]


class ReadError(Exception):
    """The text is not a YAML mapping; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message if problems else "unreadable")
        self.problems = problems


@dataclass
class LocatedDocument:
    """Plain data and where each piece of it was written."""

    data: dict[str, Any]
    values: dict[DataPath, Position] = field(default_factory=dict)
    keys: dict[DataPath, Position] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def locate(self, path: DataPath, *, key: bool = False) -> Position:
        """The position of the value at ``path`` (or of its key), else of the nearest parent."""
        if key and path in self.keys:
            return self.keys[path]
        probe = path
        while probe:
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return (1, 1)

    def problem(self, path: DataPath, message: str, *, key: bool = False) -> Problem:
        """A problem at ``path``."""
        line, column = self.locate(path, key=key)
        return Problem(line, column, dotted(path), message)


def read_yaml(raw: bytes | str) -> LocatedDocument:
    """Parse ``raw`` into a located document or raise :class:`ReadError`."""
    # A str may hold lone surrogates (from JSON); count them here, the reader refuses them.
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if size > MAX_BYTES:
        raise ReadError(
            [
                Problem(
                    1,
                    1,
                    "",
                    f"the file is {size:,} bytes; andon.yaml may be at most "
                    f"{MAX_BYTES:,} bytes, so move data out of it",
                )
            ]
        )
    text = _decode(raw)
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        raise ReadError(
            [Problem(1, 1, "", "the file is empty; 'andon init' writes a starting point")]
        )
    loaded = _parse(text)
    if not isinstance(loaded, CommentedMap):
        raise ReadError(
            [
                Problem(
                    1,
                    1,
                    "",
                    f"expected a mapping of sections (service:, processes:, ...) "
                    f"at the top level, got {_kind(loaded)}",
                )
            ]
        )
    document = LocatedDocument(data={})
    walker = _Walker(document)
    document.data = walker.plain(loaded, (), 0)
    return document


def _decode(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ReadError(
            [
                Problem(
                    line,
                    column,
                    "",
                    f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
                )
            ]
        ) from exc


def _parse(text: str) -> Any:
    yaml = YAML(typ="rt", pure=True)
    try:
        # ruamel warns about some questionable documents; treat those as errors too.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ReadError([Problem(line, column, "", _yaml_reason(exc))]) from exc
    except ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1])
        message = f"invalid YAML: the character U+{code:04X} is not allowed; andon.yaml is text"
        raise ReadError([Problem(line, column, "", message)]) from exc
    except RecursionError as exc:
        message = "the document nests too deeply to read; flatten it"
        raise ReadError([Problem(1, 1, "", message)]) from exc
    except (YAMLError, Warning, ValueError, TypeError) as exc:
        raise ReadError([Problem(1, 1, "", f"invalid YAML: {exc}")]) from exc


_DUPLICATE = re.compile(r'found duplicate key "(.*?)" with value')


def _yaml_reason(exc: MarkedYAMLError) -> str:
    """ruamel's wording, made into a sentence that says what to do."""
    problem = exc.problem or exc.context or "invalid YAML"
    duplicate = _DUPLICATE.search(problem)
    if duplicate:
        return f"the key '{duplicate.group(1)}' is given twice in one mapping; keep one"
    if "found character '\\t'" in problem:
        return "invalid YAML: a tab character; indent YAML with spaces"
    if "found another document" in problem:
        return "invalid YAML: the file holds more than one document ('---'); keep one"
    return "invalid YAML: " + problem.replace('"', "'")


def _short_tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


def as_yaml(value: Any) -> str:
    """A scalar as YAML writes it (``true``, ``null``, ``'text'``), for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool | ScalarBoolean):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return repr(value)
    return _kind(value)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool | ScalarBoolean):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, set | frozenset):
        return "!!set"
    if isinstance(value, bytes):
        return "!!binary"
    if isinstance(value, tuple):
        return "a list"
    return type(value).__name__


class _Walker:
    def __init__(self, document: LocatedDocument) -> None:
        self.document = document
        self.count = 0

    def plain(self, node: Any, path: DataPath, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            message = (
                f"the document expands to more than {MAX_VALUES:,} values "
                "(through aliases?); simplify it"
            )
            raise ReadError([self.document.problem(path, message)])
        if depth > MAX_DEPTH:
            message = f"the document nests more than {MAX_DEPTH} levels deep; flatten it"
            raise ReadError([self.document.problem(path[:8], message)])
        tag = getattr(getattr(node, "tag", None), "value", None)
        if isinstance(node, CommentedMap | CommentedSeq) and tag:
            self.document.problems.append(
                self.document.problem(
                    path, f"the tag {_short_tag(tag)} is not supported; remove it"
                )
            )
        if isinstance(node, CommentedMap):
            return self._mapping(node, path, depth)
        if isinstance(node, CommentedSeq):
            items = []
            for index, item in enumerate(node):
                self._note(self.document.values, (*path, index), node.lc, "item", index)
                items.append(self.plain(item, (*path, index), depth + 1))
            return items
        return self._scalar(node, path)

    def _mapping(self, node: CommentedMap, path: DataPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in node.items():
            if not isinstance(key, str):
                # Locate the key itself, not the mapping (whose position is its first key).
                spot: dict[DataPath, Position] = {}
                self._note(spot, path, node.lc, "key", key)
                line, column = spot.get(path) or self.document.locate(path)
                self.document.problems.append(
                    Problem(
                        line, column, dotted(path), f"the key {as_yaml(key)} is not text; quote it"
                    )
                )
                continue
            child = (*path, key)
            self._note(self.document.keys, child, node.lc, "key", key)
            # An empty value's recorded place is the next token, often on a later line;
            # point at its key instead.
            place = "key" if value is None else "value"
            self._note(self.document.values, child, node.lc, place, key)
            result[key] = self.plain(value, child, depth + 1)
        return result

    def _scalar(self, node: Any, path: DataPath) -> Any:
        if isinstance(node, TaggedScalar):
            # ``!!str 0042`` only says "this is text"; ruamel keeps it tagged all the same.
            if node.tag.value != "tag:yaml.org,2002:str":
                self.document.problems.append(
                    self.document.problem(
                        path, f"the tag {_short_tag(node.tag.value)} is not supported; remove it"
                    )
                )
            # Keep the text, so that the tag is the only problem reported here.
            return str(node.value)
        if isinstance(node, ScalarBoolean | bool):
            return bool(node)
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        if isinstance(node, str):
            return str(node)
        if isinstance(node, dt.date):
            # YAML reads 2024-01-01 as a date; andon.yaml has no date fields, so keep text.
            return node.isoformat()
        if node is None:
            return None
        # !!set, !!binary and the like have no place in a file that becomes JSON.
        self.document.problems.append(
            self.document.problem(path, f"{_kind(node)} values are not supported; use text")
        )
        return None

    @staticmethod
    def _note(
        table: dict[DataPath, Position], path: DataPath, lc: Any, attr: str, arg: Any
    ) -> None:
        # Keys merged in with ``<<:`` have no recorded position; the parent's is used.
        try:
            line, column = getattr(lc, attr)(arg)[:2]
        except (KeyError, IndexError, TypeError, AttributeError):
            return
        table.setdefault(path, (line + 1, column + 1))
