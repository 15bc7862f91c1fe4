"""The bucketing function agrees with flagd's v2 ``fractional``: every ``@fractional-v2``
example of the flagd evaluator test kit, evaluated by hand as far as ``fractional`` needs,
and properties over many keys (stable, weights respected, order-preserving growth)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from andon.bucketing import MAX_TOTAL_WEIGHT, bucket_of, flag_bucketing_key, hash_of, pick

KIT = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "flagd-evaluator"
FEATURE = KIT / "gherkin" / "fractional.feature"
FLAGS = KIT / "flags" / "testkit-flags.json"

pytestmark = pytest.mark.skipif(not KIT.is_dir(), reason="the flagd evaluator test kit is absent")


@dataclass(frozen=True)
class Example:
    flag_key: str
    context: dict[str, Any]
    expected: str

    def __str__(self) -> str:
        return f"{self.flag_key}-{json.dumps(self.context, sort_keys=True)}"


_FLAG_STEP = re.compile(r'a \w+-flag with key "(?P<key>[^"]+)"')
_NESTED_STEP = re.compile(
    r'a context containing a nested property with outer key "(?P<outer>[^"]+)" and inner key '
    r'"(?P<inner>[^"]+)", with value "(?P<value>[^"]*)"'
)
_TARGETING_STEP = re.compile(r'a context containing a targeting key with value "(?P<value>[^"]*)"')
_VALUE_STEP = re.compile(r'the resolved details value should be "(?P<value>[^"]*)"')


def _substitute(text: str, row: dict[str, str]) -> str:
    return re.sub(r"<(\w+)>", lambda match: row[match.group(1)], text)


def _example(steps: list[str], row: dict[str, str]) -> Example:
    flag_key, context, expected = "", {}, ""
    for raw in steps:
        step = _substitute(raw, row)
        if found := _FLAG_STEP.search(step):
            flag_key = found["key"]
        elif found := _NESTED_STEP.search(step):
            context.setdefault(found["outer"], {})[found["inner"]] = found["value"]
        elif found := _TARGETING_STEP.search(step):
            context["targetingKey"] = found["value"]
        elif found := _VALUE_STEP.search(step):
            expected = found["value"]
    return Example(flag_key, context, expected)


@dataclass
class _Table:
    tags: set[str]
    header: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)


@dataclass
class _Scenario:
    tags: set[str]
    steps: list[str] = field(default_factory=list)
    tables: list[_Table] = field(default_factory=list)

    def examples(self, tag: str) -> Iterator[Example]:
        if not self.tables:
            if tag in self.tags:
                yield _example(self.steps, {})
            return
        for table in self.tables:
            if tag in self.tags | table.tags:
                for row in table.rows:
                    yield _example(self.steps, row)


def read_scenarios(feature: Path) -> Iterator[_Scenario]:
    """The scenarios of a feature file with their tags, steps and ``Examples`` tables.

    A small Gherkin reader, enough for the kit's files: tags on scenarios and on tables,
    ``Scenario`` and ``Scenario Outline``, steps, and pipe tables (no doc strings).
    """
    tags: set[str] = set()
    scenario: _Scenario | None = None
    table: _Table | None = None
    for line in feature.read_text().splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        keyword = text.split(" ", 1)[0]
        if text.startswith("@"):
            tags |= set(text.split())
        elif keyword in {"Scenario:", "Scenario", "Feature:"}:
            if scenario is not None:
                yield scenario
            scenario = _Scenario(tags) if keyword != "Feature:" else None
            tags, table = set(), None
        elif keyword in {"Examples:", "Examples"} and scenario is not None:
            table = _Table(tags)
            scenario.tables.append(table)
            tags = set()
        elif text.startswith("|") and table is not None:
            cells = [cell.strip() for cell in text.strip("|").split("|")]
            if not table.header:
                table.header = cells
            else:
                table.rows.append(dict(zip(table.header, cells, strict=True)))
        elif keyword in {"Given", "And", "When", "Then", "But"} and scenario is not None:
            scenario.steps.append(text)
    if scenario is not None:
        yield scenario


V2_EXAMPLES = (
    [
        example
        for scenario in read_scenarios(FEATURE)
        for example in scenario.examples("@fractional-v2")
    ]
    if FEATURE.is_file()
    else []
)


def _logic(expression: Any, data: dict[str, Any]) -> Any:
    """The JsonLogic that the kit's ``fractional`` rules use for their bucketing key."""
    if isinstance(expression, dict):
        ((operator, argument),) = expression.items()
        if operator == "var":
            value: Any = data
            for part in argument.split(".") if not argument.startswith("$") else [argument]:
                value = value.get(part) if isinstance(value, dict) else None
            return value
        if operator == "cat":
            return "".join(str(_logic(item, data)) for item in argument)
        raise AssertionError(f"unexpected operator {operator}")
    return expression


def evaluate_fractional(flag_key: str, context: dict[str, Any]) -> str:
    """The value of a kit flag whose targeting is one ``fractional`` rule."""
    flag = json.loads(FLAGS.read_text())["flags"][flag_key]
    rule = flag["targeting"]["fractional"]
    data = {**context, "$flagd.flagKey": flag_key}
    if isinstance(rule[0], list):
        key, entries = flag_bucketing_key(flag_key, context["targetingKey"]), rule
    else:
        key, entries = _logic(rule[0], data), rule[1:]
    weighted = [(entry[0], entry[1] if len(entry) > 1 else 1) for entry in entries]
    variant = pick(key, weighted)
    return str(flag["variants"][variant if variant is not None else flag["defaultVariant"]])


def test_the_reader_finds_every_v2_example_of_the_kit() -> None:
    flags = Counter(example.flag_key for example in V2_EXAMPLES)
    assert flags == {
        "fractional-flag": 5,
        "fractional-flag-shorthand": 2,
        "fractional-flag-A-shared-seed": 4,
        "fractional-flag-B-shared-seed": 4,
        "fractional-single-entry-flag": 1,
        "fractional-hash-edge-flag": 5,
    }


@pytest.mark.parametrize("example", V2_EXAMPLES, ids=str)
def test_pick_resolves_every_v2_example_of_the_kit(example: Example) -> None:
    assert evaluate_fractional(example.flag_key, example.context) == example.expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [("ejOoVL", 0), ("bY9fO-", 1), ("SI7p-", 2**31 - 1), ("6LvT0", 2**31), ("ceQdGm", 2**32 - 1)],
)
def test_hash_is_unsigned_murmur3_with_seed_zero(key: str, expected: int) -> None:
    # The kit's edge keys were searched for to hash to these boundary values.
    assert hash_of(key) == expected
    assert hash_of(key.encode()) == expected


def test_bucket_maps_the_hash_range_onto_the_total_weight() -> None:
    assert bucket_of("ejOoVL", 100) == 0
    assert bucket_of("SI7p-", 100) == 49
    assert bucket_of("6LvT0", 100) == 50
    assert bucket_of("ceQdGm", 100) == 99
    assert bucket_of("ceQdGm", MAX_TOTAL_WEIGHT) == MAX_TOTAL_WEIGHT - 1


@pytest.mark.parametrize("total", [0, -1, MAX_TOTAL_WEIGHT + 1])
def test_bucket_refuses_a_total_weight_out_of_range(total: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        bucket_of("key", total)


def test_pick_has_no_answer_without_positive_weight() -> None:
    assert pick("user", []) is None
    assert pick("user", [("one", 0), ("two", 0)]) is None
    assert pick("user", [("one", MAX_TOTAL_WEIGHT), ("two", 1)]) is None


def test_pick_counts_a_negative_weight_as_zero() -> None:
    assert {pick(f"user-{n}", [("one", -50), ("two", 100)]) for n in range(200)} == {"two"}


def test_pick_keeps_buckets_in_the_given_order() -> None:
    # "ejOoVL" hashes to 0: always the first variant with weight; "ceQdGm" to the last.
    weighted = [("zero", 0), ("a", 1), ("b", 1)]
    assert pick("ejOoVL", weighted) == "a"
    assert pick("ceQdGm", weighted) == "b"


@settings(max_examples=25, deadline=None)
@given(
    weights=st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=5),
    salt=st.text(max_size=8),
)
def test_pick_spreads_keys_as_the_weights_say(weights: list[int], salt: str) -> None:
    weighted = list(enumerate(weights))
    keys = 10_000
    counts = Counter(pick(f"{salt}user-{n}", weighted) for n in range(keys))
    total = sum(weights)
    for variant, weight in weighted:
        assert abs(counts[variant] / keys - weight / total) < 0.03


@settings(max_examples=200)
@given(
    key=st.text(),
    weights=st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=6),
)
def test_pick_is_stable_and_follows_the_formula(key: str, weights: list[int]) -> None:
    weighted = [(f"v{n}", weight) for n, weight in enumerate(weights)]
    first = pick(key, weighted)
    assert pick(key, weighted) == first
    total = sum(weights)
    if total == 0:
        assert first is None
        return
    bucket = (hash_of(key) * total) >> 32
    assert bucket == bucket_of(key, total)
    running = 0
    for variant, weight in weighted:
        running += weight
        if bucket < running:
            assert first == variant
            break


@settings(max_examples=100)
@given(
    keys=st.lists(st.text(min_size=1), min_size=1, max_size=50),
    before=st.integers(min_value=0, max_value=100),
    after=st.integers(min_value=0, max_value=100),
)
def test_growing_a_percentage_only_moves_keys_into_it(
    keys: list[str], before: int, after: int
) -> None:
    low, high = sorted((before, after))
    for key in keys:
        was = pick(key, [("canary", low), ("stable", 100 - low)])
        now = pick(key, [("canary", high), ("stable", 100 - high)])
        assert was == now or (was, now) == ("stable", "canary")
