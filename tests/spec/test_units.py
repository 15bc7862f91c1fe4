"""Durations (``30s``, ``1h30m``) and percentages (``10%``) as andon.yaml writes them: each
parses to a value, refuses what is ambiguous with a sentence, and formats back to text
that parses to the same value.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from andon.spec._units import (
    DURATION_PATTERN,
    PERCENT_PATTERN,
    format_duration,
    format_percent,
    parse_duration,
    parse_measure,
    parse_percent,
)

FAST = settings(max_examples=200, deadline=None, derandomize=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("500ms", timedelta(milliseconds=500)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(minutes=90)),
        ("0s", timedelta(0)),
        (" 10s ", timedelta(seconds=10)),
        ("1m1m", timedelta(minutes=2)),
    ],
)
def test_a_duration_parses_to_its_length(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (30, "expected a duration such as 30s, 5m or 2h, got 30; add a unit (ms, s, m, h, d)"),
        (1.5, "expected a duration such as 30s, 5m or 2h, got 1.5; add a unit (ms, s, m, h, d)"),
        (True, "expected a duration such as 30s, 5m or 2h, got True; add a unit (ms, s, m, h, d)"),
        (None, "expected a duration such as 30s, 5m or 2h, got None; add a unit (ms, s, m, h, d)"),
        ("30", "expected a duration such as 30s, 5m or 2h, got '30'"),
        ("30 sec", "expected a duration such as 30s, 5m or 2h, got '30 sec'"),
        ("-5s", "expected a duration such as 30s, 5m or 2h, got '-5s'"),
        ("1h30", "expected a duration such as 30s, 5m or 2h, got '1h30'"),
        ("", "expected a duration such as 30s, 5m or 2h, got ''"),
        ("5M", "expected a duration such as 30s, 5m or 2h, got '5M'"),
    ],
)
def test_a_duration_without_a_clear_unit_is_refused_with_a_sentence(
    value: object, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value)

    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=30), "30s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=26), "1d2h"),
        (timedelta(days=1, seconds=1), "1d1s"),
        (timedelta(milliseconds=1500), "1500ms"),
        (timedelta(microseconds=500), "0.0005s"),
    ],
)
def test_a_duration_formats_as_short_text(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10_000))


@FAST
@given(durations)
def test_a_formatted_duration_parses_back_to_itself(value: timedelta) -> None:
    text = format_duration(value)

    assert re.match(DURATION_PATTERN, text)
    assert parse_duration(text) == value


@FAST
@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from("dhms")), min_size=1, max_size=4))
def test_a_written_duration_survives_a_round_trip(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{count}{unit}" for count, unit in parts)
    value = parse_duration(text)

    assert format_duration(value) == format_duration(parse_duration(format_duration(value)))
    assert parse_duration(format_duration(value)) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10%", 10.0), ("0%", 0.0), ("100%", 100.0), ("12.5%", 12.5), (10, 10.0), (0.5, 0.5)],
)
def test_a_percentage_parses_to_percentage_points(value: object, expected: float) -> None:
    assert parse_percent(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("150%", "a percentage lies between 0% and 100%, got '150%'"),
        (101, "a percentage lies between 0% and 100%, got 101"),
        ("ten%", "expected a percentage such as 10%, got 'ten%'"),
        ("-5%", "expected a percentage such as 10%, got '-5%'"),
        ("10", "expected a percentage such as 10%, got '10'"),
        (True, "expected a percentage such as 10%, got True"),
        (None, "expected a percentage such as 10%, got None"),
    ],
)
def test_a_percentage_out_of_range_or_without_a_sign_is_refused(
    value: object, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        parse_percent(value)

    assert str(caught.value) == message


@pytest.mark.parametrize(("value", "text"), [(10.0, "10%"), (12.5, "12.5%"), (0.0, "0%")])
def test_a_percentage_formats_without_trailing_zeros(value: float, text: str) -> None:
    assert format_percent(value) == text


@FAST
@given(st.integers(0, 10_000).map(lambda hundredths: hundredths / 100))
def test_a_formatted_percentage_parses_back_to_itself(value: float) -> None:
    text = format_percent(value)

    assert re.match(PERCENT_PATTERN, text)
    assert parse_percent(text) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3.0), (0.25, 0.25), ("1%", 0.01), ("500ms", 0.5), ("2m", 120.0)],
)
def test_a_threshold_is_a_number_a_fraction_or_seconds(value: object, expected: float) -> None:
    assert parse_measure(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["fast", "2x", True, None, "150%"])
def test_a_threshold_that_is_no_measure_is_refused(value: object) -> None:
    with pytest.raises(ValueError):
        parse_measure(value)
