"""Requests, responses, JSON bodies and the router.

These types keep the route handlers independent of ``http.server``: a handler
takes a :class:`Request` and returns a :class:`Response`, so the application
can be exercised without opening a socket. ``shop.server`` does the adapting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from shop.errors import BadRequestError, PayloadTooLargeError

# Bodies are small JSON objects; anything bigger is a mistake or an attack, and
# it must be refused before it is read into memory.
MAX_BODY_BYTES = 64 * 1024


class BodyStream(Protocol):
    """Anything with read(n) -> bytes: the socket file in the server, BytesIO in tests."""

    def read(self, size: int, /) -> bytes: ...


@dataclass
class Request:
    method: str
    # The request target as sent, e.g. "/products/mug?x=1".
    target: str
    # Header names in lower case.
    headers: Mapping[str, str]
    # The unread body; only handlers that need it read it, via json_object().
    body: BodyStream

    @property
    def path(self) -> str:
        # Origin-form targets ("/products?x=1") are split by hand: urlsplit would read
        # "//[" as a network location and raise on it.
        if self.target.startswith("/"):
            return self.target.split("?", 1)[0].split("#", 1)[0] or "/"
        try:
            return urlsplit(self.target).path or "/"
        except ValueError:
            return self.target

    def read_body(self) -> bytes:
        raw_length = self.headers.get("content-length")
        if raw_length is None:
            return b""
        try:
            length = int(raw_length)
        except ValueError:
            raise BadRequestError("The Content-Length header must be a whole number.") from None
        if length < 0:
            raise BadRequestError("The Content-Length header must not be negative.")
        if length > MAX_BODY_BYTES:
            raise PayloadTooLargeError(f"The request body must be at most {MAX_BODY_BYTES} bytes.")
        try:
            data = self.body.read(length)
        except TimeoutError:
            raise BadRequestError("Timed out waiting for the request body.") from None
        if len(data) < length:
            raise BadRequestError("The request body is shorter than its Content-Length header.")
        return data

    def json_object(self) -> dict[str, Any]:
        """The body parsed as a JSON object, or BadRequestError with a clear sentence."""
        raw = self.read_body()
        if not raw.strip():
            raise BadRequestError("The request body must be a JSON object, but it is empty.")
        try:
            # JSON exchanged between systems must be UTF-8 (RFC 8259); json.loads
            # would also guess UTF-16/32 from raw bytes, so decode explicitly.
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise BadRequestError("The request body must be UTF-8 encoded JSON.") from None
        except json.JSONDecodeError as exc:
            raise BadRequestError(
                f"The request body is not valid JSON: {exc.msg} "
                f"(line {exc.lineno}, column {exc.colno})."
            ) from None
        except RecursionError:
            raise BadRequestError("The request body is nested too deeply.") from None
        if not isinstance(data, dict):
            raise BadRequestError(
                f"The request body must be a JSON object, not {_json_type(data)}."
            )
        return data


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    body = (json.dumps(payload, sort_keys=True) + "\n").encode("utf-8")
    return Response(status, body, "application/json", dict(headers or {}))


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return json_response(status, {"error": message}, headers)


def require_str(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequestError(
            f"Field '{name}' must be a non-empty string, but it is {_describe(value)}."
        )
    return value


def require_int(body: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = body.get(name)
    # JSON `true` arrives as a Python bool, which is an int subclass; refuse it.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequestError(
            f"Field '{name}' must be an integer from {low} to {high}, but it is {_describe(value)}."
        )
    return value


def _describe(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, str | int | float | bool):
        return f"{_json_type(value)} {json.dumps(value)[:40]}"
    return _json_type(value)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return "an object"


Handler = Callable[[Request, Mapping[str, str]], Response]


@dataclass(frozen=True)
class Route:
    template: str
    pattern: re.Pattern[str]
    handlers: Mapping[str, Handler]


@dataclass(frozen=True)
class Match:
    """The outcome of routing one request.

    `route` is the template (e.g. "/products/{sku}") or None when no route
    matches the path; `handler` is None when the path matches but the method
    does not. Metrics label requests with the template, never the raw path,
    so the number of time series stays bounded.
    """

    route: str | None
    handler: Handler | None
    params: Mapping[str, str]
    allowed: tuple[str, ...]


class Router:
    """Maps (method, path) to a handler using templates like "/carts/{cart_id}/items"."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}

    def add(self, method: str, template: str, handler: Handler) -> None:
        route = self._routes.get(template)
        if route is None:
            route = Route(template, _compile(template), {})
            self._routes[template] = route
        handlers = dict(route.handlers)
        handlers[method] = handler
        self._routes[template] = Route(template, route.pattern, handlers)

    @property
    def templates(self) -> tuple[str, ...]:
        return tuple(self._routes)

    def match(self, method: str, path: str) -> Match:
        for route in self._routes.values():
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            params = {name: unquote(value) for name, value in found.groupdict().items()}
            handler = route.handlers.get(method)
            if handler is None and method == "HEAD":
                # HEAD is GET without the body; the server drops the body.
                handler = route.handlers.get("GET")
            allowed = sorted(route.handlers) + (["HEAD"] if "GET" in route.handlers else [])
            return Match(route.template, handler, params, tuple(sorted(allowed)))
        return Match(None, None, {}, ())


def _compile(template: str) -> re.Pattern[str]:
    # "{name}" matches one non-empty path segment; everything else is literal.
    parts = re.split(r"\{([a-z_]+)\}", template)
    regex = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)"
        for index, part in enumerate(parts)
    )
    return re.compile(regex)
