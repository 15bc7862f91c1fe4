"""Customers in a test: a few threads asking an environment's URL for its products, one
request after another, all the while a deployment goes on; what each request was
answered, by which version (the router's ``X-Andon-Version``)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx


class Customers:
    """Requests to ``url`` + ``path`` from ``threads`` threads, ``pause`` seconds apart
    in each; a context manager."""

    def __init__(
        self, url: str, *, threads: int = 4, path: str = "/products", pause: float = 0.05
    ) -> None:
        self.url = url
        self.path = path
        self.pause = pause
        self.answers: list[tuple[float, int, str]] = []
        """(when, status, version) of each answer."""
        self.errors: list[str] = []
        """Requests that got no answer at all."""
        self._done = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Customers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        for thread in self._threads:
            thread.join(10)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._done.is_set():
                try:
                    response = client.get(self.path)
                    version = response.headers.get("x-andon-version", "")
                    self.answers.append((time.monotonic(), response.status_code, version))
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                time.sleep(self.pause)

    def failed(self) -> list[str]:
        """Every failed request: ``500 from <version>``, or the error of one unanswered."""
        bad = [f"{status} from {version}" for _, status, version in self.answers if status >= 500]
        return bad + self.errors

    def versions_since(self, since: float) -> Counter[str]:
        """How many answers each version gave since ``since`` (``time.monotonic()``)."""
        return Counter(version for at, _, version in self.answers if at >= since)
