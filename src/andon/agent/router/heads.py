"""Header blocks the proxy writes: the request head sent upstream (hop-by-hop headers
dropped, ``X-Forwarded-*`` added) and the response head sent back (``X-Andon-Version``
added, framing chosen for the client), plus the router's own short error responses.

Everything is bytes, built in one pass (requests: over the parsed headers; responses: one
regular expression over the head as received), because this runs once per request on the
proxy's hot path.
"""

from __future__ import annotations

import re

# Headers that describe one connection, not the message (RFC 9110 section 7.6.1); the proxy
# speaks for itself on each side.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Request headers the proxy handles itself; a client's own X-Forwarded-Proto and -Host are
# replaced (it could claim https), its X-Forwarded-For is extended.
_REQUEST_SPECIAL = _HOP_BY_HOP | {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}
_CONNECTION_OPTIONS = frozenset({b"close", b"keep-alive", b"upgrade"})


# What a response body is framed by, as far as the proxy cares.
NO_BODY = 0
LENGTH = 1
CHUNKED = 2
UNTIL_CLOSE = 3
"""The body ends when the instance closes: the client connection closes after it too."""

# Response headers about the instance's connection; X-Andon-Version is the router's own.
_RESPONSE_STRIP = re.compile(
    rb"\r\n(?:connection|keep-alive|proxy-connection|te|upgrade|x-andon-version)[ \t]*:[^\r]*",
    re.IGNORECASE,
)
# A 101 keeps its Connection and Upgrade headers: they are what it means.
_SWITCH_STRIP = re.compile(
    rb"\r\n(?:keep-alive|proxy-connection|te|x-andon-version)[ \t]*:[^\r]*", re.IGNORECASE
)
_TRANSFER_ENCODING = re.compile(rb"\r\ntransfer-encoding[ \t]*:([^\r]*)", re.IGNORECASE)


def request_head(
    method: bytes,
    url: bytes,
    headers: list[tuple[bytes, bytes]],
    client_ip: bytes,
    watched: frozenset[bytes],
    *,
    upgrade: bool,
    http10: bool = False,
) -> tuple[bytes, dict[bytes, bytes] | None, bool]:
    """The head to send upstream for a request the client sent with ``headers``, the values
    of the ``watched`` headers (lower-cased names; None when none was sent), and whether the
    body is chunked.

    An HTTP/1.0 client's request goes up as HTTP/1.0 too, so the answer comes unchunked (an
    HTTP/1.0 client could not read chunks); an upgrade keeps ``Connection: upgrade``.
    """
    parts = [method, b" ", url, b" HTTP/1.0\r\n" if http10 else b" HTTP/1.1\r\n"]
    seen: dict[bytes, bytes] | None = None
    forwarded_for: bytes | None = None
    host = b""
    chunked = False
    upgrade_value: bytes | None = None
    dropped: list[bytes] | None = None
    for name, value in headers:
        lowered = name.lower()
        if lowered in _REQUEST_SPECIAL:
            if lowered == b"x-forwarded-for":
                forwarded_for = value if forwarded_for is None else forwarded_for + b", " + value
            elif lowered == b"transfer-encoding":
                chunked = value.lower().rstrip().endswith(b"chunked")
            elif lowered == b"upgrade":
                upgrade_value = value
            elif lowered == b"connection":
                # Headers the client names in Connection are for this hop only, too.
                for item in value.lower().split(b","):
                    token = item.strip()
                    if token and token not in _CONNECTION_OPTIONS:
                        dropped = [*(dropped or ()), token]
            continue
        if lowered in watched:
            if seen is None:
                seen = {}
            previous = seen.get(lowered)
            # Several Cookie headers are one list of cookies.
            seen[lowered] = value if previous is None else previous + b"; " + value
        if lowered == b"host":
            host = value
        parts += (name, b": ", value, b"\r\n")
    if dropped:
        return request_head(
            method,
            url,
            [
                (name, value)
                for name, value in headers
                if name.lower() not in dropped and name.lower() != b"connection"
            ],
            client_ip,
            watched,
            upgrade=upgrade,
            http10=http10,
        )
    parts += (
        b"X-Forwarded-For: ",
        client_ip if forwarded_for is None else forwarded_for + b", " + client_ip,
        b"\r\nX-Forwarded-Proto: http\r\n",
    )
    if host:
        parts += (b"X-Forwarded-Host: ", host, b"\r\n")
    if chunked:
        parts.append(b"Transfer-Encoding: chunked\r\n")
    if upgrade and upgrade_value is not None:
        parts += (b"Connection: upgrade\r\nUpgrade: ", upgrade_value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts), seen, chunked


def head_size(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """Bytes of a request line and headers as a client sent them (near enough: the method
    and version are counted as 12 bytes, each header line as name + value + 4)."""
    return len(url) + 12 + sum(len(name) + len(value) + 4 for name, value in headers)


def response_framing(head: bytes, status: int, *, head_only: bool) -> int:
    """How the body after a response ``head`` is framed: :data:`NO_BODY`, :data:`LENGTH`,
    :data:`CHUNKED` or :data:`UNTIL_CLOSE`."""
    if head_only or status < 200 or status in (204, 304):
        return NO_BODY
    lowered = head.lower()
    if b"\r\ntransfer-encoding" in lowered:
        coding = _TRANSFER_ENCODING.search(head)
        chunked = coding is not None and coding.group(1).strip().lower().endswith(b"chunked")
        return CHUNKED if chunked else UNTIL_CLOSE
    if b"\r\ncontent-length" in lowered:
        return LENGTH
    return UNTIL_CLOSE


def rewrite_response_head(head: bytes, version_line: bytes, *, close: bool, http10: bool) -> bytes:
    """The head to send the client for an instance's response ``head`` (status line to
    blank line, as received): the instance's connection headers dropped, the version named
    (``version_line`` is the precomputed ``X-Andon-Version: ...\\r\\n``), and the client
    connection's own fate said (``close``, or kept alive for an HTTP/1.0 client).

    The body passes through untouched, so its framing stays the instance's.
    """
    head = _RESPONSE_STRIP.sub(b"", head)
    if head.startswith(b"HTTP/1.0 "):
        head = b"HTTP/1.1 " + head[9:]
    if close:
        return head[:-2] + version_line + b"Connection: close\r\n\r\n"
    if http10:
        return head[:-2] + version_line + b"Connection: keep-alive\r\n\r\n"
    return head[:-2] + version_line + b"\r\n"


def switching_head(head: bytes, version_line: bytes) -> bytes:
    """The head of a 101 for the client: it keeps its Connection and Upgrade headers."""
    return _SWITCH_STRIP.sub(b"", head)[:-2] + version_line + b"\r\n"


def error_response(status: int, text: str, version_line: bytes = b"", *, close: bool) -> bytes:
    """One of the router's own answers: a short text saying what went wrong."""
    body = (text + "\n").encode()
    reason = _REASONS[status]
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\n" % (status, reason),
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n" % len(body),
            version_line,
            b"Connection: close\r\n" if close else b"",
            b"\r\n",
            body,
        )
    )


_REASONS = {
    400: b"Bad Request",
    405: b"Method Not Allowed",
    431: b"Request Header Fields Too Large",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
}
