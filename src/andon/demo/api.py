"""The demo talks to its private server over HTTP, as the CLI does: :class:`DemoApi` sends
the admin's (or another person's) token and turns an error answer into a
:class:`~andon.demo.failures.DemoError` carrying the server's own sentence;
:func:`wait_for` waits for a condition rather than for a fixed time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from andon.demo.failures import DemoError

T = TypeVar("T")


class RefusedError(DemoError):
    """The server refused a request; ``status`` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class DemoApi:
    """The server's API at ``url`` (``/api/v1`` below it), as the holder of ``token``;
    ``transport`` replaces the network (tests)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self._http = httpx.Client(
            base_url=f"{url}/api/v1",
            timeout=timeout,
            headers={"Authorization": f"Bearer {token}"},
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call("POST", path, body or {})

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise DemoError(f"the demo's server did not answer {method} {path}: {exc}") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.is_success:
            return data
        error = data.get("error") if isinstance(data, dict) else None
        said = error.get("message") if isinstance(error, dict) else None
        raise RefusedError(
            response.status_code,
            str(said or f"{method} {path} answered HTTP {response.status_code}"),
        )


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    *,
    timeout: float,
    state: Callable[[], str] | None = None,
    interval: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``probe()``'s first truthy value, asked every ``interval`` seconds; DemoError after
    ``timeout`` seconds, saying what ``state()`` (when given) shows then."""
    deadline = clock() + timeout
    while True:
        value = probe()
        if value:
            return value
        if clock() >= deadline:
            shown = f"; {state()}" if state is not None else ""
            raise DemoError(f"{what} did not happen within {timeout:.0f}s{shown}")
        sleep(interval)
