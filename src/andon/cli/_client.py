"""The CLI's client of the server's HTTP API, and how it finds the server:
``--url``, then ``ANDON_URL``, then the URL that ``andon start`` recorded in ANDON_HOME."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx

from andon.errors import (
    AndonError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ServerUnreachableError,
    SpecError,
    UnauthenticatedError,
    UsageError,
)
from andon.settings import DEFAULT_HOST, DEFAULT_PORT, Settings

DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"


def server_url(explicit: str | None, settings: Settings) -> str:
    """The URL of the server this command talks to."""
    if explicit:
        return explicit.rstrip("/")
    if os.environ.get("ANDON_URL"):
        return os.environ["ANDON_URL"].rstrip("/")
    try:
        recorded = json.loads(settings.server_file.read_text("utf-8"))
        return str(recorded["url"]).rstrip("/")
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_URL


def api_token(settings: Settings) -> str | None:
    """The API token this command sends: ``ANDON_TOKEN``, else the one the server's first
    start wrote to ``ANDON_HOME/token``; None when there is neither."""
    if os.environ.get("ANDON_TOKEN"):
        return os.environ["ANDON_TOKEN"].strip()
    try:
        return settings.token_file.read_text("utf-8").strip() or None
    except OSError:
        return None


class ApiClient:
    """Calls the API and turns its error bodies back into Andon errors."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=f"{url}/api/v1", timeout=timeout, headers=headers)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def get(self, path: str) -> Any:
        """GET ``path`` and return the decoded JSON."""
        return self._call("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST ``body`` to ``path`` and return the decoded JSON."""
        return self._call("POST", path, json=body)

    def put(self, path: str, body: dict[str, Any]) -> Any:
        """PUT ``body`` to ``path`` and return the decoded JSON (None when there is none)."""
        return self._call("PUT", path, json=body)

    def delete(self, path: str) -> Any:
        """DELETE ``path`` and return the decoded JSON (None when there is none)."""
        return self._call("DELETE", path)

    def text(self, path: str) -> str:
        """GET ``path`` as plain text."""
        response = self._request("GET", path)
        if not response.is_success:
            raise _error_from(response.status_code, _json_or_none(response))
        return response.text

    def events(self, path: str) -> Iterator[tuple[str, str]]:
        """Server-Sent Events from ``path`` as ``(event, data)`` pairs until the stream ends."""
        try:
            with self._http.stream("GET", path, timeout=httpx.Timeout(30.0, read=None)) as response:
                if not response.is_success:
                    response.read()
                    raise _error_from(response.status_code, _json_or_none(response))
                event, data = "message", list[str]()
                for line in response.iter_lines():
                    if not line:
                        if data:
                            yield event, "\n".join(data)
                        event, data = "message", []
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].removeprefix(" "))
        except httpx.TransportError as exc:
            raise ServerUnreachableError(
                f"the connection to {self.url} broke; 'andon status' tells whether it runs."
            ) from exc

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServerUnreachableError(
                f"no Andon server answers at {self.url}; 'andon start' starts one."
            ) from exc

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        if response.status_code == 204:
            return None
        try:
            data = response.json()
        except ValueError as exc:
            raise ServerUnreachableError(
                f"{self.url} answered with something other than Andon's API "
                f"(HTTP {response.status_code}); check --url or ANDON_URL."
            ) from exc
        if response.is_success:
            return data
        raise _error_from(response.status_code, data)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_from(status: int, data: Any) -> AndonError:
    error = data.get("error", {}) if isinstance(data, dict) else {}
    message = str(error.get("message") or f"the server answered HTTP {status}.")
    if error.get("code") == "invalid_spec":
        from andon.spec import Problem  # only here: the CLI starts without the spec models

        problems = [
            Problem(p["line"], p["column"], p["path"], p["message"])
            for p in error.get("problems", [])
        ]
        source = message.split(" has ", 1)[0]
        return SpecError(problems, path=source)
    if status == 401:
        return UnauthenticatedError(message)
    if status == 403:
        return ForbiddenError(message)
    if status == 404:
        return NotFoundError(message)
    if status == 409:
        return ConflictError(message)
    if status in {400, 422}:
        return UsageError(message)
    failure = AndonError(message)
    failure.exit_code = 1
    return failure
