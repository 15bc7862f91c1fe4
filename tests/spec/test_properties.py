"""Whatever it is given, the loader answers with a model or with located problems: random
text and bytes, and the valid golden cases mutated at random, never raise anything but
SpecError, and every problem sits on a line of the document (or just past its end).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from andon.errors import SpecError
from andon.spec import AndonSpec, parse_spec

CASES = Path(__file__).parent / "cases"
VALID_TEXTS = [path.read_text("utf-8") for path in sorted(CASES.glob("valid_*.yaml"))]

# Deterministic for CI (derandomize), bounded for time, and without the function-scoped
# fixture check: the autouse ANDON_HOME fixture has nothing to do with parsing text.
FAST = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

YAML_ALPHABET = st.sampled_from(
    list(":-?[]{},#&*!|>'\"%@`\\ \t\n\r") + list("abcdeyz019._") + ["\x00", "\x85", "\ufeff", "é"]
)
JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


def answer(raw: bytes | str) -> AndonSpec | SpecError:
    """The loader's answer; any exception but SpecError escapes and fails the test."""
    try:
        return parse_spec(raw, file_exists=lambda path: False)
    except SpecError as error:
        return error


def assert_located(raw: bytes | str) -> None:
    result = answer(raw)
    if isinstance(result, AndonSpec):
        return
    assert result.problems
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    # splitlines() splits on every YAML line break (and a few more), so this bounds
    # the lines the reader can have counted.
    last_line = len(text.splitlines()) + 1
    for problem in result.problems:
        assert 1 <= problem.line <= last_line, problem
        assert problem.column >= 1, problem
        assert problem.message, problem
    assert len(result.lines()) == len(result.problems)


@FAST
@given(st.text(max_size=300))
def test_random_text_is_loaded_or_located(text: str) -> None:
    assert_located(text)


@FAST
@given(st.text(YAML_ALPHABET, max_size=200))
def test_random_yaml_punctuation_is_loaded_or_located(text: str) -> None:
    assert_located(text)


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_are_loaded_or_located(raw: bytes) -> None:
    assert_located(raw)


# Mutations of the valid cases. Structural ones edit the data and write it back as YAML;
# textual ones edit the characters, which mostly breaks the YAML itself.


def paths_in(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in the data, the root excluded."""
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths_in(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths_in(value, (*path, index))
    return found


def parent_of(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


def delete(data: Any, path: tuple[Any, ...], draw: Any) -> None:
    del parent_of(data, path)[path[-1]]


def replace(data: Any, path: tuple[Any, ...], draw: Any) -> None:
    parent_of(data, path)[path[-1]] = draw(JSONISH)


def rename(data: Any, path: tuple[Any, ...], draw: Any) -> None:
    parent = parent_of(data, path)
    if isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=10))] = parent.pop(path[-1])


STRUCTURAL = {"delete": delete, "replace": replace, "rename": rename}


def dump(data: Any) -> str:
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, out)
    return out.getvalue()


def duplicate_line(lines: list[str], draw: Any) -> list[str]:
    index = draw(st.integers(0, len(lines) - 1))
    return [*lines[: index + 1], lines[index], *lines[index + 1 :]]


def insert_tab(lines: list[str], draw: Any) -> list[str]:
    index = draw(st.integers(0, len(lines) - 1))
    column = draw(st.integers(0, len(lines[index])))
    line = lines[index]
    return [*lines[:index], line[:column] + "\t" + line[column:], *lines[index + 1 :]]


def delete_line(lines: list[str], draw: Any) -> list[str]:
    index = draw(st.integers(0, len(lines) - 1))
    return [*lines[:index], *lines[index + 1 :]]


def truncate(lines: list[str], draw: Any) -> list[str]:
    text = "".join(lines)
    return text[: draw(st.integers(0, len(text)))].splitlines(keepends=True) or [""]


TEXTUAL = {
    "duplicate_line": duplicate_line,
    "insert_tab": insert_tab,
    "delete_line": delete_line,
    "truncate": truncate,
}


@st.composite
def mutated_documents(draw: Any) -> str:
    text = draw(st.sampled_from(VALID_TEXTS))
    kinds = draw(st.lists(st.sampled_from([*STRUCTURAL, *TEXTUAL]), min_size=1, max_size=3))
    structural = [kind for kind in kinds if kind in STRUCTURAL]
    if structural:
        # Plain JSON data: the YAML dumper cannot write dates and the like back.
        data = json.loads(json.dumps(YAML(typ="safe", pure=True).load(text), default=str))
        for kind in structural:
            places = paths_in(data)
            if places:
                STRUCTURAL[kind](data, draw(st.sampled_from(places)), draw)
        text = dump(data)
    lines = text.splitlines(keepends=True) or [""]
    for kind in kinds:
        if kind in TEXTUAL:
            lines = TEXTUAL[kind](lines, draw) or [""]
    return "".join(lines)


@FAST
@given(mutated_documents())
def test_a_mutated_valid_document_is_loaded_or_located(text: str) -> None:
    assert_located(text)
