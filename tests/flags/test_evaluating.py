"""The flag evaluator: each JsonLogic and flagd operator, every error path, rules compiled
once, and ``fractional`` agreeing with :mod:`andon.bucketing`."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections import UserDict
from pathlib import Path
from typing import Any

import pytest

from andon.bucketing import flag_bucketing_key, pick
from andon.errors import AndonError, SpecError
from andon.flags import ErrorCode, FlagSet, FlagSetError, FlagType, Reason
from andon.flags._jsonlogic import RuleCompiler
from andon.flags.loading import OPERATORS
from andon.spec import load_spec

NOW = 1_700_000_000.5
ROOT = Path(__file__).resolve().parents[2]


def apply_rule(rule: Any, data: Any = None, *, flag_key: str = "the-flag") -> Any:
    """What a targeting ``rule`` gives for ``data``, compiled as the flag set compiles it."""
    compiler = RuleCompiler(
        flag_key=flag_key, operators=OPERATORS, evaluators={}, clock=lambda: NOW
    )
    run = compiler.node(rule, "rule", 0).run
    assert not compiler.problems
    return run({} if data is None else data)


def flag_set(targeting: Any = None, **flag: Any) -> FlagSet:
    """A flag set with one flag, ``the-flag``, whose variants are on/off booleans."""
    definition = {"state": "ENABLED", "variants": {"on": True, "off": False}}
    definition["defaultVariant"] = "off"
    definition.update(flag)
    if targeting is not None:
        definition["targeting"] = targeting
    return FlagSet.from_document({"flags": {"the-flag": definition}}, clock=lambda: NOW)


CHECKOUT = {
    "if": [
        {"in": [{"var": "country"}, ["NL", "DE"]]},
        {"fractional": [["on", 50], ["off", 50]]},
        "off",
    ]
}


# -- JsonLogic operators ------------------------------------------------------------------

OPERATOR_CASES = [
    # var: dotted paths, defaults, list indexes, null kept, the whole data
    ({"var": "user.name"}, {"user": {"name": "ada"}}, "ada"),
    ({"var": ["user.age", 42]}, {"user": {}}, 42),
    ({"var": "user.age"}, {}, None),
    ({"var": ["a", "fallback"]}, {"a": None}, None),
    ({"var": "items.1"}, {"items": ["x", "y"]}, "y"),
    ({"map": [[["zero", "one"]], {"var": 1}]}, None, ["one"]),
    ({"var": {"cat": ["us", "er"]}}, {"user": 7}, 7),
    ({"var": "targetingKey"}, {}, ""),
    ({"var": "$flagd.flagKey"}, {"$flagd": {"flagKey": "forged"}}, "the-flag"),
    ({"var": "$flagd.timestamp"}, {}, int(NOW)),
    (
        {"var": ""},
        {"a": 1},
        {"a": 1, "targetingKey": "", "$flagd": {"flagKey": "the-flag", "timestamp": int(NOW)}},
    ),
    ({"missing": ["a", "b", "c"]}, {"a": 1, "b": ""}, ["b", "c"]),
    ({"missing": "a"}, {}, ["a"]),
    ({"missing_some": [1, ["a", "b"]]}, {"b": 2}, []),
    ({"missing_some": [2, ["a", "b", "c"]]}, {"b": 2}, ["a", "c"]),
    # if, ?:, truthiness of JavaScript with an empty array false
    ({"if": [True, "yes", "no"]}, None, "yes"),
    ({"if": [[], "yes", "no"]}, None, "no"),
    ({"if": [{}, "yes", "no"]}, None, "yes"),
    ({"if": ["0", "yes", "no"]}, None, "yes"),
    ({"if": [0, "a", False, "b", "c"]}, None, "c"),
    ({"if": [False, "a"]}, None, None),
    ({"?:": [True, "a", "b"]}, None, "a"),
    ({"!": [[]]}, None, True),
    ({"!": {"var": "x"}}, {"x": "text"}, False),
    ({"!!": ["0"]}, None, True),
    ({"!!": [0]}, None, False),
    ({"and": [1, "", "never"]}, None, ""),
    ({"and": [1, "last"]}, None, "last"),
    ({"or": [0, None, "first", "never"]}, None, "first"),
    ({"or": [0, False]}, None, False),
    # equality: loose and strict
    ({"==": [1, "1"]}, None, True),
    ({"==": [0, False]}, None, True),
    ({"==": [None, 0]}, None, False),
    ({"==": [None, None]}, None, True),
    ({"==": [{"var": "n"}, "1"]}, {"n": 1}, True),
    ({"===": [1, "1"]}, None, False),
    ({"===": [1, 1.0]}, None, True),
    ({"!=": ["a", "b"]}, None, True),
    ({"!==": [1, "1"]}, None, True),
    # ordering, with the "between" forms
    ({">": [2, 1]}, None, True),
    ({">=": [1, 1]}, None, True),
    ({"<": ["10", 9]}, None, False),
    ({"<": ["a", "b"]}, None, True),
    ({"<": [1, 2, 3]}, None, True),
    ({"<": [1, 1, 3]}, None, False),
    ({"<=": [1, 1, 3]}, None, True),
    ({"<": [{"var": "missing"}, 1]}, None, True),
    ({">": ["abc", 1]}, None, False),
    # arithmetic, as JavaScript reads numbers
    ({"+": [1, "2.5px", 3]}, None, 6.5),
    ({"+": ["3.14"]}, None, 3.14),
    ({"-": [10, "4"]}, None, 6),
    ({"-": [2]}, None, -2),
    ({"*": [2, "3"]}, None, 6),
    ({"/": [7, 2]}, None, 3.5),
    ({"%": [-7, 3]}, None, -1),
    ({"%": [7.5, 2]}, None, 1.5),
    ({"max": [1, "5", 3]}, None, 5),
    ({"min": [4, 2, 9]}, None, 2),
    ({"max": []}, None, None),
    # strings and arrays
    ({"in": ["Spring", "Springfield"]}, None, True),
    ({"in": ["x", ["a", "b"]]}, None, False),
    ({"in": [1, [1, 2]]}, None, True),
    ({"in": ["1", [1, 2]]}, None, False),
    ({"in": [{"var": "c"}, ["NL", "DE"]]}, {"c": "DE"}, True),
    ({"in": [{"var": "c"}, ["NL", "DE"]]}, {"c": ["NL"]}, False),
    ({"in": [{"var": "c"}, ["NL", "DE"]]}, {}, False),
    ({"cat": ["I love", " pie ", 3, None, True, 1.5]}, None, "I love pie 3true1.5"),
    ({"substr": ["jsonlogic", 4]}, None, "logic"),
    ({"substr": ["jsonlogic", -5]}, None, "logic"),
    ({"substr": ["jsonlogic", 1, 3]}, None, "son"),
    ({"substr": ["jsonlogic", 4, -2]}, None, "log"),
    ({"merge": [[1, 2], 3, [4, [5]]]}, None, [1, 2, 3, 4, [5]]),
    # iteration: the rule sees each item as its data
    ({"map": [{"var": "xs"}, {"*": [{"var": ""}, 2]}]}, {"xs": [1, 2]}, [2, 4]),
    ({"map": [{"var": "missing"}, {"var": ""}]}, None, []),
    ({"filter": [[1, 2, 3, 4], {"%": [{"var": ""}, 2]}]}, None, [1, 3]),
    (
        {"reduce": [[1, 2, 3], {"+": [{"var": "current"}, {"var": "accumulator"}]}, 10]},
        None,
        16,
    ),
    ({"all": [[1, 2], {">": [{"var": ""}, 0]}]}, None, True),
    ({"all": [[], {">": [{"var": ""}, 0]}]}, None, False),
    ({"none": [[1, 2], {">": [{"var": ""}, 5]}]}, None, True),
    ({"some": [[1, 9], {">": [{"var": ""}, 5]}]}, None, True),
    (
        {"some": [{"var": "users"}, {"==": [{"var": "role"}, "admin"]}]},
        {"users": [{"role": "admin"}]},
        True,
    ),
    # data that is not a rule
    ({"a": 1, "b": 2}, None, {"a": 1, "b": 2}),
    ([1, {"var": "x"}], {"x": 2}, [1, 2]),
    ("text", None, "text"),
]


@pytest.mark.parametrize(("rule", "data", "expected"), OPERATOR_CASES, ids=repr)
def test_operator_answers_as_jsonlogic_defines(rule: Any, data: Any, expected: Any) -> None:
    result = apply_rule(rule, data)
    assert result == expected
    assert type(result) is type(expected) or isinstance(expected, float)


def test_log_returns_its_argument_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("DEBUG", logger="andon.flags"):
        assert apply_rule({"log": {"var": "x"}}, {"x": "seen"}) == "seen"
    assert "seen" in caplog.text


# -- flagd operators ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "operator", "target", "expected"),
    [
        ("1.0.0", "=", "1.0.0", True),
        ("v1.0.0", "=", "1.0.0", True),
        ("V1.0.0", "=", "v1.0.0", True),
        ("1.0.0+build.7", "=", "1.0.0", True),
        ("1.0.1", "!=", "1.0.0", True),
        ("1.2.0", ">", "1.1.9", True),
        ("2.0.0-alpha", "<", "2.0.0", True),
        ("2.0.0-alpha.2", "<", "2.0.0-alpha.10", True),
        ("2.0.0-alpha.9", "<", "2.0.0-beta", True),
        ("2.0.0-alpha", "<", "2.0.0-alpha.1", True),
        ("1.10.0", ">=", "1.9.0", True),
        ("1.0.0", "<=", "1.0.0", True),
        ("3.4.5", "^", "3.0.0", True),
        ("4.0.0", "^", "3.0.0", False),
        ("3.0.9", "~", "3.0.0", True),
        ("3.1.0", "~", "3.0.0", False),
        ("1", "=", "1.0.0", True),
        ("1.2", "=", "1.2.0", True),
        (1.2, ">", "1.1", True),
        (2, "=", "2.0.0", True),
        ("2.0.0.0", "=", "2.0.0", None),
        ("01.0.0", "=", "1.0.0", None),
        ("not-a-version", "=", "1.0.0", None),
        (None, "=", "1.0.0", None),
        (True, "=", "1.0.0", None),
        ("1.0.0", "===", "1.0.0", None),
    ],
)
def test_sem_ver_compares_as_flagd_does(
    version: Any, operator: str, target: str, expected: bool | None
) -> None:
    rule = {"sem_ver": [{"var": "version"}, operator, target]}
    assert apply_rule(rule, {"version": version}) is expected
    computed = {"sem_ver": [{"var": "version"}, {"var": "op"}, {"var": "target"}]}
    context = {"version": version, "op": operator, "target": target}
    assert apply_rule(computed, context) is expected


def test_sem_ver_answers_null_to_a_wrong_number_of_arguments() -> None:
    assert apply_rule({"sem_ver": ["1.0.0", "="]}) is None


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"starts_with": [{"var": "id"}, "abc"]}, True),
        ({"starts_with": [{"var": "id"}, "xyz"]}, False),
        ({"ends_with": [{"var": "id"}, "xyz"]}, True),
        ({"ends_with": [{"var": "n"}, "3"]}, None),
        ({"starts_with": [{"var": "id"}]}, None),
        ({"ends_with": ["abc", "c", "d"]}, None),
    ],
)
def test_starts_with_and_ends_with_answer_null_to_what_is_not_two_strings(
    rule: Any, expected: bool | None
) -> None:
    assert apply_rule(rule, {"id": "abcxyz", "n": 123}) is expected


@pytest.mark.parametrize(
    "buckets",
    [
        [["on", 50], ["off", 50]],
        [["a", 0], ["b", 10], ["c", 0], ["d", 90]],
        [["one", 1], ["two", 2], ["three", 3]],
        [["only", 1]],
    ],
)
def test_fractional_agrees_with_the_bucketing_function(buckets: list[list[Any]]) -> None:
    rule = {"fractional": buckets}
    weighted = [(name, weight) for name, weight in buckets]
    for user in range(3_000):
        context = {"targetingKey": f"user-{user}"}
        expected = pick(flag_bucketing_key("the-flag", f"user-{user}"), weighted)
        assert apply_rule(rule, context) == expected


def test_fractional_with_computed_buckets_agrees_with_the_bucketing_function() -> None:
    rule = {"fractional": [{"var": "seed"}, [{"var": "name"}, {"var": "weight"}], ["blue", 30]]}
    for user in range(500):
        context = {"seed": f"seed-{user}", "name": "red", "weight": 70}
        expected = pick(f"seed-{user}", [("red", 70), ("blue", 30)])
        assert apply_rule(rule, context) == expected


def test_fractional_buckets_by_its_first_argument_when_it_is_not_a_bucket() -> None:
    rule = {"fractional": [{"cat": ["salt", {"var": "email"}]}, ["a", 1], ["b", 1]]}
    for user in range(200):
        context = {"email": f"u{user}@example.com", "targetingKey": "ignored"}
        assert apply_rule(rule, context) == pick(f"salt{context['email']}", [("a", 1), ("b", 1)])


@pytest.mark.parametrize(
    ("rule", "context"),
    [
        ({"fractional": [["on", 50], ["off", 50]]}, {}),
        ({"fractional": [["on", 50], ["off", 50]]}, {"targetingKey": 42}),
        ({"fractional": [{"var": "missing"}, ["on", 50], ["off", 50]]}, {"targetingKey": "u"}),
        ({"fractional": [["on", 0], ["off", 0]]}, {"targetingKey": "u"}),
        ({"fractional": [["on", "fifty"], ["off", 50]]}, {"targetingKey": "u"}),
        ({"fractional": [["on", 2**31], ["off", 1]]}, {"targetingKey": "u"}),
        ({"fractional": [[{"var": "obj"}, 1]]}, {"targetingKey": "u", "obj": {"a": 1}}),
        ({"fractional": []}, {"targetingKey": "u"}),
    ],
)
def test_fractional_answers_null_when_it_cannot_bucket(rule: Any, context: Any) -> None:
    assert apply_rule(rule, context) is None


def test_fractional_weighs_an_unweighted_bucket_1_and_a_negative_weight_0() -> None:
    seen = {
        apply_rule({"fractional": [["a"], ["b", 1]]}, {"targetingKey": f"u{i}"}) for i in range(200)
    }
    assert seen == {"a", "b"}
    negative = {"fractional": [["a", -50], ["b", 100]]}
    assert {apply_rule(negative, {"targetingKey": f"u{i}"}) for i in range(200)} == {"b"}


# -- evaluating flags ---------------------------------------------------------------------


def test_a_flag_without_targeting_answers_its_default_variant_as_static() -> None:
    result = flag_set().evaluate("the-flag", True)
    assert (result.value, result.variant, result.reason) == (False, "off", Reason.STATIC)
    assert result.error_code is None


def test_the_checkout_rule_splits_nl_and_de_users_and_leaves_others_off() -> None:
    flags = flag_set(CHECKOUT)
    french = flags.evaluate("the-flag", True, {"targetingKey": "u1", "country": "FR"})
    assert (french.value, french.reason) == (False, Reason.TARGETING_MATCH)
    answers = {
        flags.evaluate("the-flag", True, {"targetingKey": f"u{i}", "country": "NL"}).value
        for i in range(100)
    }
    assert answers == {True, False}


def test_a_user_keeps_their_bucket_between_evaluations() -> None:
    flags = flag_set(CHECKOUT)
    context = {"targetingKey": "user-77", "country": "DE"}
    first = flags.evaluate("the-flag", None, context)
    assert all(flags.evaluate("the-flag", None, context) == first for _ in range(10))


def test_a_missing_attribute_is_null_not_an_error() -> None:
    result = flag_set(CHECKOUT).evaluate("the-flag", True, {"targetingKey": "u1"})
    assert (result.value, result.reason, result.error_code) == (False, Reason.TARGETING_MATCH, None)


def test_a_rule_answering_null_serves_the_default_variant() -> None:
    rule = {"if": [{"==": [{"var": "plan"}, "pro"]}, "on", None]}
    result = flag_set(rule).evaluate("the-flag", True, {"plan": "free"})
    assert (result.value, result.variant, result.reason) == (False, "off", Reason.DEFAULT)


def test_a_flag_without_default_variant_serves_the_callers_default() -> None:
    static = flag_set(defaultVariant=None).evaluate("the-flag", True)
    assert (static.value, static.variant, static.reason) == (True, None, Reason.DEFAULT)
    rule = {"if": [{"var": "beta"}, "on"]}
    targeted = flag_set(rule, defaultVariant=None).evaluate("the-flag", "mine", {})
    assert (targeted.value, targeted.reason, targeted.error_code) == ("mine", Reason.DEFAULT, None)


def test_a_rule_naming_an_undefined_variant_is_an_error() -> None:
    result = flag_set({"cat": ["o", "ff!"]}).evaluate("the-flag", "mine")
    assert (result.value, result.reason, result.error_code) == (
        "mine",
        Reason.ERROR,
        ErrorCode.GENERAL,
    )
    assert "off!" in (result.error_message or "")


def test_a_boolean_rule_result_names_the_variant_true_or_false() -> None:
    definition = {"variants": {"true": "yes", "false": "no"}, "defaultVariant": "false"}
    flags = flag_set({"starts_with": [{"var": "id"}, "abc"]}, **definition)
    assert flags.evaluate("the-flag", "", {"id": "abcdef"}).value == "yes"
    assert flags.evaluate("the-flag", "", {"id": "xyz"}).value == "no"


def test_division_by_zero_serves_the_callers_default_with_an_error() -> None:
    rule = {"if": [{">": [{"/": [{"var": "a"}, {"var": "b"}]}, 1]}, "on", "off"]}
    result = flag_set(rule).evaluate("the-flag", "mine", {"a": 1, "b": 0})
    assert (result.value, result.variant, result.reason) == ("mine", None, Reason.ERROR)
    assert result.error_code is ErrorCode.GENERAL
    assert "divided by zero" in (result.error_message or "")


@pytest.mark.parametrize("context", ["a string", 42, ["a", "list"]])
def test_a_context_that_is_not_a_mapping_is_an_invalid_context(context: Any) -> None:
    result = flag_set(CHECKOUT).evaluate("the-flag", "mine", context)
    assert (result.value, result.error_code) == ("mine", ErrorCode.INVALID_CONTEXT)


def test_any_mapping_serves_as_a_context() -> None:
    context = UserDict({"targetingKey": "u1", "country": "FR"})
    result = flag_set(CHECKOUT).evaluate("the-flag", True, context)
    assert (result.value, result.reason) == (False, Reason.TARGETING_MATCH)


def test_a_huge_context_evaluates_without_trouble() -> None:
    deep: dict[str, Any] = {"leaf": "NL"}
    for _ in range(50_000):
        deep = {"next": deep}
    context: dict[str, Any] = {f"attribute-{i}": i for i in range(100_000)}
    context.update(targetingKey="u1", country="NL", deep=deep, tags=list(range(100_000)))
    rule = {
        "if": [
            {"and": [{"in": [99_999, {"var": "tags"}]}, {"var": "deep.next.next"}]},
            {"fractional": [["on", 50], ["off", 50]]},
            "off",
        ]
    }
    result = flag_set(rule).evaluate("the-flag", None, context)
    assert result.reason is Reason.TARGETING_MATCH


def test_an_unknown_flag_is_flag_not_found() -> None:
    result = flag_set().evaluate("no-such-flag", "mine")
    assert (result.value, result.reason, result.error_code) == (
        "mine",
        Reason.ERROR,
        ErrorCode.FLAG_NOT_FOUND,
    )


def test_a_disabled_flag_serves_the_callers_default_with_its_metadata() -> None:
    flags = flag_set(CHECKOUT, state="DISABLED", metadata={"owner": "checkout-team"})
    result = flags.evaluate("the-flag", "mine", {"country": "NL"})
    assert (result.value, result.variant, result.reason) == ("mine", None, Reason.DISABLED)
    assert result.error_code is None
    assert result.flag_metadata == {"owner": "checkout-team"}


def test_answers_carrying_the_callers_default_are_built_once_per_default() -> None:
    flags = flag_set(state="DISABLED")
    assert flags.evaluate("the-flag", False) is flags.evaluate("the-flag", False)
    assert flags.evaluate("the-flag", 0).value.__class__ is int
    assert flags.evaluate("missing", "x") is flags.evaluate("missing", "x")
    unhashable = {"a": [1]}
    assert flags.evaluate("the-flag", unhashable).value is unhashable


def test_metadata_merges_the_flag_sets_and_the_flags_the_flags_winning() -> None:
    document = {
        "metadata": {"team": "shop", "version": 1},
        "flags": {
            "a": {"variants": {"x": 1}, "defaultVariant": "x", "metadata": {"version": 2}},
        },
    }
    result = FlagSet.from_document(document).evaluate("a", 0)
    assert result.flag_metadata == {"team": "shop", "version": 2}
    with pytest.raises(TypeError):
        result.flag_metadata["team"] = "other"  # type: ignore[index]


@pytest.mark.parametrize(
    ("variants", "kind", "expected"),
    [
        ({"v": "text"}, FlagType.INTEGER, None),
        ({"v": 1}, FlagType.BOOLEAN, None),
        ({"v": True}, FlagType.INTEGER, None),
        ({"v": 3.0}, FlagType.INTEGER, 3),
        ({"v": 3.5}, FlagType.INTEGER, None),
        ({"v": 3}, FlagType.FLOAT, 3.0),
        ({"v": [1, 2]}, FlagType.OBJECT, [1, 2]),
        ({"v": {"a": 1}}, FlagType.STRING, None),
    ],
)
def test_a_typed_evaluation_checks_the_type_as_openfeature_does(
    variants: dict[str, Any], kind: FlagType, expected: Any
) -> None:
    flags = FlagSet.from_document({"flags": {"f": {"variants": variants, "defaultVariant": "v"}}})
    result = flags.evaluate("f", "default", kind=kind)
    if expected is None:
        assert (result.value, result.reason) == ("default", Reason.ERROR)
        assert result.error_code is ErrorCode.TYPE_MISMATCH
    else:
        assert (result.value, type(result.value)) == (expected, type(expected))
        assert result.reason is Reason.STATIC


def test_the_typed_helpers_answer_their_types() -> None:
    document = {
        "flags": {
            "b": {"variants": {"on": True}, "defaultVariant": "on"},
            "s": {"variants": {"hi": "hi"}, "defaultVariant": "hi"},
            "i": {"variants": {"ten": 10}, "defaultVariant": "ten"},
            "f": {"variants": {"half": 0.5}, "defaultVariant": "half"},
            "o": {"variants": {"cfg": {"size": 3}}, "defaultVariant": "cfg"},
        }
    }
    flags = FlagSet.from_document(document)
    assert flags.resolve_boolean("b", False).value is True
    assert flags.resolve_string("s", "").value == "hi"
    assert flags.resolve_integer("i", 0).value == 10
    assert flags.resolve_float("f", 0.0).value == 0.5
    assert flags.resolve_object("o", {}).value == {"size": 3}
    assert flags.resolve_boolean("s", False).error_code is ErrorCode.TYPE_MISMATCH


def test_an_object_value_is_a_copy_the_caller_may_change() -> None:
    document = {"flags": {"o": {"variants": {"cfg": {"items": [1]}}, "defaultVariant": "cfg"}}}
    flags = FlagSet.from_document(document)
    flags.resolve_object("o", {}).value["items"].append(2)
    assert flags.resolve_object("o", {}).value == {"items": [1]}


def test_flagd_timestamp_reads_the_injected_clock() -> None:
    rule = {"if": [{">": [{"var": "$flagd.timestamp"}, 1_800_000_000]}, "on", "off"]}
    document = {
        "flags": {
            "f": {"variants": {"on": 1, "off": 0}, "defaultVariant": "off", "targeting": rule}
        }
    }
    assert FlagSet.from_document(document, clock=lambda: 1_900_000_000).evaluate("f", -1).value == 1
    assert FlagSet.from_document(document, clock=lambda: 1_700_000_000).evaluate("f", -1).value == 0


# -- compiled once ------------------------------------------------------------------------


def test_evaluating_does_not_read_the_document_again() -> None:
    document = {
        "flags": {
            "the-flag": {
                "variants": {"on": True, "off": False},
                "defaultVariant": "off",
                "targeting": CHECKOUT,
            }
        }
    }
    flags = FlagSet.from_document(copy.deepcopy(document))
    kept = flags.evaluate("the-flag", None, {"targetingKey": "u3", "country": "FR"})
    document["flags"]["the-flag"]["targeting"] = {"inn": []}
    assert flags.evaluate("the-flag", None, {"targetingKey": "u3", "country": "FR"}) is kept


def test_evaluating_compiles_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    flags = flag_set(CHECKOUT)

    def refuse(*_: Any) -> None:
        raise AssertionError("a rule was compiled while evaluating")

    monkeypatch.setattr(RuleCompiler, "node", refuse)
    for user in range(100):
        flags.evaluate("the-flag", None, {"targetingKey": f"u{user}", "country": "NL"})


def test_a_static_flag_answers_one_shared_resolution() -> None:
    flags = flag_set()
    assert flags.evaluate("the-flag", True) is flags.evaluate("the-flag", False, {"x": 1})


def test_constant_parts_of_a_rule_are_folded_on_load() -> None:
    compiler = RuleCompiler(flag_key="f", operators=OPERATORS, evaluators={}, clock=lambda: NOW)
    node = compiler.node({"cat": ["a", {"+": [1, 2]}, {"var": "$flagd.flagKey"}]}, "rule", 0)
    assert node.is_constant
    assert node.value == "a3f"


# -- loading ------------------------------------------------------------------------------


def test_an_unknown_operator_is_refused_on_load_with_its_place() -> None:
    rule = {"if": [{"inn": [{"var": "country"}, ["NL"]]}, "on", "off"]}
    document = {
        "flags": {
            "new-checkout": {
                "variants": {"on": True, "off": False},
                "defaultVariant": "off",
                "targeting": rule,
            }
        }
    }
    with pytest.raises(FlagSetError) as raised:
        FlagSet.from_document(document)
    assert "flags.new-checkout.targeting.if[0]: unknown operator 'inn' (did you mean 'in'?)" in str(
        raised.value
    )
    assert isinstance(raised.value, SpecError)
    assert isinstance(raised.value, AndonError)


def test_every_problem_of_a_flag_set_is_reported_at_once() -> None:
    document = {
        "$evaluators": {"beta": {"==": [{"var": "group"}, "beta"]}},
        "flags": {
            "a": {"variants": {"on": True}, "defaultVariant": "on", "targeting": {"$ref": "betta"}},
            "b": {"variants": {"on": True}, "defaultVariant": "of"},
            "c": {"state": "PAUSED", "variants": {}},
            "d": "not a flag",
            "e": {"variants": {"on": True}, "targeting": ["not", "an", "object"]},
        },
    }
    with pytest.raises(FlagSetError) as raised:
        FlagSet.from_document(document)
    assert raised.value.lines() == [
        "flags.a.targeting.$ref: unknown evaluator 'betta' (did you mean 'beta'?); shared rules "
        "are declared in $evaluators",
        "flags.b.defaultVariant: defaultVariant 'of' is not one of the variants (on); name one "
        "of them, or null to serve the caller's default",
        "flags.c.state: state is ENABLED or DISABLED, not 'PAUSED'",
        "flags.c.variants: variants name one or more values, as an object",
        "flags.d: a flag is an object with state, variants and defaultVariant",
        "flags.e.targeting: targeting is a JsonLogic rule (an object)",
    ]
    assert str(raised.value).startswith("the flag set has 6 problems; fix them and load it again")


def test_a_broken_evaluator_is_reported_once_and_where_it_is_used() -> None:
    document = {
        "$evaluators": {"bad": {"zzz": []}},
        "flags": {
            "a": {"variants": {"on": True}, "defaultVariant": "on", "targeting": {"$ref": "bad"}}
        },
    }
    with pytest.raises(FlagSetError) as raised:
        FlagSet.from_document(document)
    assert raised.value.lines() == [
        "$evaluators.bad: unknown operator 'zzz'",
        "flags.a.targeting.$ref: evaluator 'bad' is invalid; see $evaluators.bad",
    ]


def test_evaluators_referring_to_each_other_in_a_cycle_are_refused() -> None:
    document = {
        "$evaluators": {"a": {"!": {"$ref": "b"}}, "b": {"!": {"$ref": "a"}}},
        "flags": {},
    }
    with pytest.raises(FlagSetError, match="cycle: a → b → a"):
        FlagSet.from_document(document)


def test_a_rule_nesting_too_deep_is_refused_on_load() -> None:
    rule: Any = "on"
    for _ in range(150):
        rule = {"if": [True, rule, "off"]}
    with pytest.raises(FlagSetError, match="nests deeper than 100"):
        flag_set(rule)


@pytest.mark.parametrize("document", [[], {"flags": []}, {"flags": {}, "$evaluators": 3}])
def test_a_document_that_is_not_a_flag_set_is_refused_even_when_lenient(document: Any) -> None:
    with pytest.raises(FlagSetError):
        FlagSet.from_document(document, strict=False)


def test_a_lenient_flag_set_serves_its_good_flags_and_errors_for_the_broken_one() -> None:
    document = {
        "flags": {
            "good": {"variants": {"on": True}, "defaultVariant": "on"},
            "broken": {"variants": {"on": True}, "defaultVariant": "on", "targeting": {"inn": []}},
        }
    }
    flags = FlagSet.from_document(document, strict=False)
    assert flags.evaluate("good", False).value is True
    broken = flags.evaluate("broken", False)
    assert (broken.value, broken.reason, broken.error_code) == (
        False,
        Reason.ERROR,
        ErrorCode.PARSE_ERROR,
    )
    assert "flags.broken.targeting: unknown operator 'inn'" in (broken.error_message or "")


def test_a_flag_set_from_andon_yaml_evaluates_its_flags() -> None:
    spec = load_spec(ROOT / "tests" / "spec" / "cases" / "valid_flags_of_every_type.yaml")
    flags = FlagSet.from_spec(spec.flags)
    assert set(flags) == {"button-colour", "page-size", "banner", "old-search"}
    assert flags.resolve_float("page-size", 0.0, {"appVersion": "2.1.0"}).value == 50.5
    assert flags.resolve_integer("page-size", 0, {"appVersion": "1.0.0"}).value == 10
    assert flags.evaluate("banner", {"default": True}).reason is Reason.DEFAULT
    assert flags.evaluate("old-search", None).reason is Reason.DISABLED


def test_importing_the_flag_package_leaves_pydantic_and_the_server_out() -> None:
    heavy = ("pydantic", "fastapi", "andon.spec", "sqlalchemy")
    code = f"import sys, andon.flags; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "[]"
