"""A tiny HTTP client for the shop's JSON API, used by the smoke test and the tests.

Built on ``http.client`` so it needs nothing beyond the standard library and,
unlike ``urllib.request``, does not raise for 4xx/5xx answers: callers check
the status themselves. Every request uses a fresh connection that is always
closed, matching the server's one-request-per-connection HTTP/1.0.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    status: int
    # Header names in lower case.
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    def __init__(
        self, base_url: str, timeout: float = 10.0, headers: Mapping[str, str] | None = None
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"expected an http(s) URL such as http://127.0.0.1:8080, got {base_url!r}"
            )
        self.base_url = base_url.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self.timeout = timeout
        # Sent with every request, e.g. the header that routes to one version.
        self.headers = dict(headers or {})

    def request(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        *,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send one request; `raw` sends bytes as-is (for malformed-input tests)."""
        send_headers = {**self.headers, **(headers or {})}
        body = raw
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            send_headers.setdefault("Content-Type", "application/json")
        connection_class = (
            http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(self._host, self._port, timeout=self.timeout)
        try:
            connection.request(method, self._prefix + path, body=body, headers=send_headers)
            response = connection.getresponse()
            data = response.read()
            reply_headers = {name.lower(): value for name, value in response.getheaders()}
            return Reply(response.status, reply_headers, data)
        finally:
            connection.close()

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, json_body: Any = None) -> Reply:
        return self.request("POST", path, json_body)
