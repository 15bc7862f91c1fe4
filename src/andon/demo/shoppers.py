"""Synthetic shoppers: a few threads that visit prod one shopper after another — browse
the catalog, look at a product, fill a cart, and check out or walk away — all the while
the story deploys, rolls back and flips flags. Every answer is kept with the version that
gave it (the router's ``X-Andon-Version``), so that each step can say what customers saw.

From step 5 on, each visit asks the demo's :class:`~andon.flags.client.FlagClient`
whether the shopper gets the new checkout, and ``track("checkout")`` tells it who bought.
They are synthetic: those on the new checkout are made a little likelier to buy, and it
pays through the :class:`~andon.demo.payments.Payments` service, which the old checkout
does not need.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from andon.demo.payments import Payments
from andon.flags.client import FlagClient

EMPLOYEES = "andon-shop.example"
"""The e-mail domain of the shop's employees, as andon.yaml's ``employees`` segment says."""
BUYS = {False: 0.25, True: 0.40}
"""The chance that a shopper with a full cart checks out, on the old and the new checkout
(most carts are abandoned, which keeps the catalog in stock for the whole demo)."""
CART_SIZES = ((1, 0.3), (2, 0.2), (3, 0.3), (4, 0.2))
"""How many different products go into a cart, and how often."""
FILLS_CART = 0.6
"""The share of visits that go beyond browsing."""


@dataclass(frozen=True)
class Answer:
    """One request of a shopper: when, to what, the status (0: no answer) and version."""

    at: float
    route: str
    status: int
    version: str

    @property
    def failed(self) -> bool:
        return self.status == 0 or self.status >= 500


@dataclass(frozen=True)
class Visit:
    """One shopper's visit: who, whether they got the new checkout, how it ended."""

    at: float
    employee: bool
    new_checkout: bool
    outcome: str
    """``browsed``, ``abandoned``, ``bought``, ``failed`` (the shop answered 5xx or
    nothing), ``unpaid`` (the payments service did not answer) or ``sold out``."""


@dataclass
class Tally:
    """What shoppers saw over a span of time."""

    requests: int = 0
    failed: int = 0
    versions: Counter[str] = field(default_factory=Counter)
    visits: list[Visit] = field(default_factory=list)

    def outcomes(self, *, new_checkout: bool | None = None) -> Counter[str]:
        return Counter(v.outcome for v in self.visits if new_checkout in (None, v.new_checkout))


class Shoppers:
    """``threads`` threads of shoppers visiting ``url``, ``pause`` seconds apart in each;
    start with :meth:`start`, end with :meth:`stop`."""

    def __init__(
        self,
        url: str,
        payments: Payments,
        *,
        threads: int = 2,
        pause: float = 0.12,
        seed: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.payments = payments
        self.pause = pause
        self.flags: FlagClient | None = None
        """Set from step 5 on: the client that says who gets the new checkout."""
        self._clock = clock
        self._answers: list[Answer] = []
        self._visits: list[Visit] = []
        self._numbers = itertools.count(1)
        self._done = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(random.Random(seed + i),), daemon=True)
            for i in range(threads)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._done.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(10)

    def tally(self, since: float = 0.0) -> Tally:
        """What shoppers saw since ``since`` (on the shoppers' clock)."""
        found = Tally()
        for answer in list(self._answers):
            if answer.at >= since:
                found.requests += 1
                found.failed += answer.failed
                if answer.version:
                    found.versions[answer.version] += 1
        found.visits = [visit for visit in list(self._visits) if visit.at >= since]
        return found

    def _run(self, rng: random.Random) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as http:
            while not self._done.is_set():
                number = next(self._numbers)
                self._visits.append(self._visit(http, rng, number))
                self._done.wait(self.pause)

    def _visit(self, http: httpx.Client, rng: random.Random, number: int) -> Visit:
        started = self._clock()
        employee = number % 10 == 0
        name = f"shopper-{number}"
        context = {
            "targetingKey": name,
            "email": f"{name}@{EMPLOYEES if employee else 'example.com'}",
        }
        flags = self.flags
        new = flags is not None and flags.boolean("new-checkout", False, context)

        def ended(outcome: str) -> Visit:
            return Visit(started, employee, new, outcome)

        catalog = self._ask(http, "GET", "/products")
        stocked = [p for p in (catalog or {}).get("products", []) if p.get("stock", 0) > 0]
        if not stocked:
            return ended("sold out")
        self._ask(http, "GET", f"/products/{rng.choice(stocked)['sku']}")
        if rng.random() >= FILLS_CART:
            return ended("browsed")
        cart = self._ask(http, "POST", "/carts")
        if cart is None:
            return ended("failed")
        size = rng.choices([n for n, _ in CART_SIZES], [w for _, w in CART_SIZES])[0]
        for product in _pick(rng, stocked, size):
            body = {"sku": product["sku"], "quantity": 1}
            if self._ask(http, "POST", f"/carts/{cart['id']}/items", body) is None:
                return ended("failed")  # a shop that fails them loses its customers
        if rng.random() >= BUYS[new]:
            return ended("abandoned")
        if new and not self.payments.pay(timeout=0.5):
            return ended("unpaid")
        order = self._ask(http, "POST", "/checkout", {"cart_id": cart["id"]})
        if order is None:
            return ended("failed")
        if flags is not None:
            flags.track("checkout", context)
        return ended("bought" if "order_id" in order else "sold out")

    def _ask(
        self, http: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The JSON answer (an error's too, when not 5xx); None when it failed."""
        route = path if path.count("/") < 2 else path.rsplit("/", 1)[0]
        try:
            response = http.request(method, path, json=body)
        except httpx.HTTPError:
            self._answers.append(Answer(self._clock(), route, 0, ""))
            return None
        version = response.headers.get("x-andon-version", "")
        self._answers.append(Answer(self._clock(), route, response.status_code, version))
        if response.status_code >= 500:
            return None
        try:
            data = response.json()
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


def _pick(rng: random.Random, stocked: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    """``size`` different products (fewer if fewer are in stock), the better stocked the
    likelier, so that the scarce ones last the demo."""
    left = list(stocked)
    chosen: list[dict[str, Any]] = []
    while left and len(chosen) < size:
        product = rng.choices(left, [p["stock"] for p in left])[0]
        left.remove(product)
        chosen.append(product)
    return chosen
