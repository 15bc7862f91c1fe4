"""Numbers in sentences read the way a person writes them."""

from __future__ import annotations

import pytest

from andon.analysis import _formatting as fmt


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (0.041, "4.1%"),
        (0.002, "0.2%"),
        (0.0004, "0.04%"),
        (0.1234, "12.3%"),
        (0.5, "50%"),
        (1.0, "100%"),
        (0.0, "0%"),
        (0.04, "4%"),
        (1e-7, "< 0.001%"),
    ],
)
def test_rates_read_as_percentages_with_two_significant_digits(rate: float, text: str) -> None:
    assert fmt.percent(rate) == text


@pytest.mark.parametrize(
    ("p", "text"),
    [(1e-30, "p < 0.001"), (0.00099, "p < 0.001"), (0.0042, "p = 0.004"), (0.41, "p = 0.41")],
)
def test_p_values_stop_at_one_in_a_thousand(p: float, text: str) -> None:
    assert fmt.p_value(p) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.612, "612 ms"), (0.05, "50 ms"), (2.5, "2.5 s"), (1.0, "1 s"), (60.0, "60 s")],
)
def test_latencies_read_in_milliseconds_or_seconds(seconds: float, text: str) -> None:
    assert fmt.seconds(seconds) == text


def test_counts_have_thousands_separators() -> None:
    assert fmt.count(1830) == "1,830"
    assert fmt.requests(1) == "1 request"
    assert fmt.requests(1_234_567) == "1,234,567 requests"
    assert fmt.number(0.03125) == "0.0312"
    assert fmt.share(1.0) == "100%"
