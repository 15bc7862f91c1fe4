"""The flagd evaluator test kit passes: every scenario of ``../shared/conformance/
flagd-evaluator`` runs against :class:`andon.flags.FlagSet`, except the ``@fractional-v1``
examples, which describe flagd's legacy bucketing (Andon implements v2).

The kit is Gherkin; a small reader below turns each scenario (each example row of an
outline) into one parametrized test, and the step definitions are a table of patterns.
The kit lives beside the repository, not in it; a clone without it skips these tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from andon.flags import FlagSet, FlagType, Resolution

KIT = (Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance").resolve() / (
    "flagd-evaluator"
)
NOT_APPLICABLE = {"fractional-v1": "legacy v1 bucketing; Andon implements flagd's v2"}
NOW = 1_700_000_000.0


# -- a small Gherkin reader ---------------------------------------------------------------


@dataclass
class Step:
    text: str
    table: list[list[str]] = field(default_factory=list)


@dataclass
class Scenario:
    where: str
    name: str
    tags: set[str]
    steps: list[Step]


@dataclass
class _Block:
    name: str
    line: int
    tags: set[str]
    steps: list[Step] = field(default_factory=list)
    examples: list[tuple[set[str], list[list[str]]]] = field(default_factory=list)


_KEYWORDS = ("Given ", "When ", "Then ", "And ", "But ", "* ")


def _cells(line: str) -> list[str]:
    """The cells of a table row, with Gherkin's escapes (``\\|``, ``\\\\``, ``\\n``)."""
    cells, cell, chars = [], "", iter(line.strip()[1:])
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            cell += {"|": "|", "\\": "\\", "n": "\n"}.get(following, "\\" + following)
        elif char == "|":
            cells.append(cell.strip())
            cell = ""
        else:
            cell += char
    return cells


def read_feature(path: Path) -> list[Scenario]:
    """The scenarios of a feature file, outlines expanded into one per example row."""
    feature_tags: set[str] = set()
    pending: set[str] = set()
    background: list[Step] = []
    blocks: list[_Block] = []
    steps: list[Step] = background
    rows: list[list[str]] | None = None
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            pending |= {tag.lstrip("@") for tag in line.split()}
        elif line.startswith("Feature:"):
            feature_tags, pending = pending, set()
        elif line.startswith("Background:"):
            steps, rows = background, None
        elif line.startswith(("Scenario:", "Scenario Outline:", "Example:")):
            name = line.split(":", 1)[1].strip()
            blocks.append(_Block(name, number, feature_tags | pending))
            steps, rows, pending = blocks[-1].steps, None, set()
        elif line.startswith(("Examples:", "Scenarios:")):
            rows = []
            blocks[-1].examples.append((pending, rows))
            pending = set()
        elif line.startswith("|"):
            (rows if rows is not None else steps[-1].table).append(_cells(line))
        elif line.startswith(_KEYWORDS):
            steps.append(Step(line.split(" ", 1)[1].strip()))
        else:
            raise ValueError(f"{path.name}:{number}: cannot read {line!r}")
    scenarios = []
    for block in blocks:
        where = f"{path.name}:{block.line}"
        if not block.examples:
            scenarios.append(Scenario(where, block.name, block.tags, background + block.steps))
        for tags, (header, *values) in block.examples:
            for row in values:
                names = dict(zip(header, row, strict=True))

                def fill(text: str, names: dict[str, str] = names) -> str:
                    return re.sub(r"<([^>]+)>", lambda m: names.get(m[1], m[0]), text)

                filled = [
                    Step(fill(step.text), [[fill(cell) for cell in r] for r in step.table])
                    for step in background + block.steps
                ]
                label = f"{block.name} ({', '.join(row)})"
                scenarios.append(Scenario(where, label, block.tags | tags, filled))
    return scenarios


# -- the step definitions -----------------------------------------------------------------


@dataclass
class World:
    flags: FlagSet
    kind: str = ""
    key: str = ""
    default: Any = None
    context: dict[str, Any] = field(default_factory=dict)
    result: Resolution[Any] | None = None


def typed(kind: str, text: str) -> Any:
    """A kit value of Gherkin type ``kind`` (Boolean, String, Integer, Float, Object)."""
    readers: dict[str, Callable[[str], Any]] = {
        "Boolean": lambda t: {"true": True, "false": False}[t],
        "String": str,
        "Integer": int,
        "Float": float,
        "Object": json.loads,
    }
    return readers[kind](text)


def _nothing(world: World, _: list[list[str]]) -> None:
    pass


def _flag(world: World, kind: str, key: str, default: str, _: list[list[str]]) -> None:
    world.kind, world.key, world.default = kind, key, typed(kind, default)


def _context_key(world: World, key: str, kind: str, value: str, _: list[list[str]]) -> None:
    world.context[key] = typed(kind, value)


def _nested(world: World, outer: str, inner: str, value: str, _: list[list[str]]) -> None:
    world.context.setdefault(outer, {})[inner] = value


def _targeting_key(world: World, value: str, _: list[list[str]]) -> None:
    world.context["targetingKey"] = value


def _evaluate(world: World, _: list[list[str]]) -> None:
    kind = FlagType[world.kind.upper()]
    world.result = world.flags.evaluate(world.key, world.default, world.context, kind=kind)


def _result(world: World) -> Resolution[Any]:
    assert world.result is not None, "the flag was not evaluated"
    return world.result


def _value(world: World, expected: str, _: list[list[str]]) -> None:
    value, wanted = _result(world).value, typed(world.kind, expected)
    assert (type(value), value) == (type(wanted), wanted), _result(world)


def _reason(world: World, expected: str, _: list[list[str]]) -> None:
    assert _result(world).reason == expected, _result(world)


def _error_code(world: World, expected: str, _: list[list[str]]) -> None:
    assert _result(world).error_code == expected, _result(world)


def _variant(world: World, expected: str, _: list[list[str]]) -> None:
    assert _result(world).variant == expected, _result(world)


def _metadata(world: World, table: list[list[str]]) -> None:
    header, *rows = table
    metadata = _result(world).flag_metadata
    for row in rows:
        entry = dict(zip(header, row, strict=True))
        wanted = typed(entry["metadata_type"], entry["value"])
        found = metadata.get(entry["key"])
        assert (type(found), found) == (type(wanted), wanted), metadata


def _no_metadata(world: World, _: list[list[str]]) -> None:
    assert not _result(world).flag_metadata


_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_DEFINITIONS: list[tuple[str, Callable[..., None]]] = [
    (r"an evaluator", _nothing),
    (r"an? (\w+)-flag with key {q} and a fallback value {q}", _flag),
    (r"a context containing a key {q}, with type {q} and with value {q}", _context_key),
    (
        r"a context containing a nested property with outer key {q} and inner key {q}, "
        r"with value {q}",
        _nested,
    ),
    (r"a context containing a targeting key with value {q}", _targeting_key),
    (r"the flag was evaluated with details", _evaluate),
    (r"the resolved details value should be {q}", _value),
    (r"the reason should be {q}", _reason),
    (r"the error-code should be {q}", _error_code),
    (r"the variant should be {q}", _variant),
    (r"the resolved metadata should contain", _metadata),
    (r"the resolved metadata is empty", _no_metadata),
]
STEPS = [(re.compile(text.replace("{q}", _QUOTED)), action) for text, action in _DEFINITIONS]


def run_step(world: World, step: Step) -> None:
    for pattern, action in STEPS:
        match = pattern.fullmatch(step.text)
        if match:
            arguments = [group.replace('\\"', '"') for group in match.groups()]
            action(world, *arguments, step.table)
            return
    pytest.fail(f"no step definition reads {step.text!r}; add one to {__name__}")


# -- the tests ----------------------------------------------------------------------------


def _cases() -> list[Any]:
    if not KIT.is_dir():
        reason = f"the flagd evaluator test kit is not at {KIT} (it lives in ../shared)"
        return [pytest.param(None, id="kit-absent", marks=pytest.mark.skip(reason=reason))]
    cases = []
    for path in sorted((KIT / "gherkin").glob("*.feature")):
        for scenario in read_feature(path):
            skipped = [NOT_APPLICABLE[tag] for tag in sorted(scenario.tags & NOT_APPLICABLE.keys())]
            marks = [pytest.mark.skip(reason=skipped[0])] if skipped else []
            cases.append(
                pytest.param(scenario, id=f"{scenario.where} {scenario.name}", marks=marks)
            )
    return cases


@pytest.fixture(scope="module")
def kit_flags() -> FlagSet:
    document = json.loads((KIT / "flags" / "testkit-flags.json").read_text())
    # Lenient, as flagd loads it: the kit holds a flag with a $ref to nothing on purpose.
    return FlagSet.from_document(document, strict=False, clock=lambda: NOW)


@pytest.mark.parametrize("scenario", _cases())
def test_kit_scenario_passes(scenario: Scenario, kit_flags: FlagSet) -> None:
    world = World(kit_flags)
    for step in scenario.steps:
        run_step(world, step)


def test_the_kit_has_scenarios_to_run() -> None:
    if not KIT.is_dir():
        pytest.skip(f"the flagd evaluator test kit is not at {KIT}")
    runnable = [case for case in _cases() if not case.marks]
    assert len(runnable) > 100
