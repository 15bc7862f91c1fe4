"""Synthetic shoppers: carts of different products, the better stocked the likelier, and
a tally of what they saw since a time."""

from __future__ import annotations

import random
from collections import Counter

from andon.demo.payments import Payments
from andon.demo.shoppers import Answer, Shoppers, Tally, Visit, _pick


def test_a_cart_holds_different_products_and_never_more_than_in_stock() -> None:
    stocked = [{"sku": "mug", "stock": 60}, {"sku": "lamp", "stock": 1}]
    rng = random.Random(1)
    assert sorted(p["sku"] for p in _pick(rng, stocked, 4)) == ["lamp", "mug"]
    firsts = Counter(_pick(rng, stocked, 1)[0]["sku"] for _ in range(300))
    assert firsts["mug"] > 250


def test_a_tally_counts_failed_answers_versions_and_outcomes_since_a_time() -> None:
    shoppers = Shoppers("http://127.0.0.1:9", Payments(port=9))
    shoppers._answers.extend(
        [
            Answer(1.0, "/products", 200, "aaa"),
            Answer(5.0, "/carts", 500, "bbb"),
            Answer(6.0, "/checkout", 0, ""),
            Answer(7.0, "/products", 200, "aaa"),
        ]
    )
    shoppers._visits.extend([Visit(1.0, False, False, "bought"), Visit(5.0, True, True, "failed")])
    seen = shoppers.tally(since=2.0)
    assert isinstance(seen, Tally)
    assert (seen.requests, seen.failed) == (3, 2)
    assert seen.versions == Counter({"bbb": 1, "aaa": 1})
    assert seen.outcomes() == Counter({"failed": 1})
    assert seen.outcomes(new_checkout=False) == Counter()
