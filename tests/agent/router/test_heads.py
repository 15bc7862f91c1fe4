"""The header blocks the proxy writes, byte for byte."""

from __future__ import annotations

import pytest

from andon.agent.router.heads import (
    CHUNKED,
    LENGTH,
    NO_BODY,
    UNTIL_CLOSE,
    error_response,
    head_size,
    request_head,
    response_framing,
    rewrite_response_head,
    switching_head,
)

VERSION = b"X-Andon-Version: v2\r\n"


def test_the_request_head_drops_hop_by_hop_headers_and_adds_forwarding() -> None:
    head, seen, chunked = request_head(
        b"POST",
        b"/orders?x=1",
        [
            (b"Host", b"shop.test"),
            (b"Connection", b"keep-alive"),
            (b"Transfer-Encoding", b"chunked"),
            (b"X-Forwarded-For", b"198.51.100.7"),
            (b"X-Forwarded-Proto", b"https"),
            (b"X-User-Id", b"42"),
        ],
        b"10.0.0.9",
        frozenset({b"x-user-id"}),
        upgrade=False,
    )
    assert head == (
        b"POST /orders?x=1 HTTP/1.1\r\n"
        b"Host: shop.test\r\n"
        b"X-User-Id: 42\r\n"
        b"X-Forwarded-For: 198.51.100.7, 10.0.0.9\r\n"
        b"X-Forwarded-Proto: http\r\n"
        b"X-Forwarded-Host: shop.test\r\n"
        b"Transfer-Encoding: chunked\r\n"
        b"\r\n"
    )
    assert seen == {b"x-user-id": b"42"}
    assert chunked


def test_headers_named_in_connection_stay_on_the_client_hop() -> None:
    head, _, _ = request_head(
        b"GET",
        b"/",
        [(b"Host", b"h"), (b"X-Secret", b"1"), (b"Connection", b"close, X-Secret"), (b"A", b"b")],
        b"10.0.0.9",
        frozenset(),
        upgrade=False,
    )
    assert head.startswith(b"GET / HTTP/1.1\r\nHost: h\r\nA: b\r\nX-Forwarded-For: 10.0.0.9\r\n")
    assert b"X-Secret" not in head


def test_an_http10_request_goes_up_as_http10() -> None:
    head, _, _ = request_head(
        b"GET", b"/", [], b"10.0.0.9", frozenset(), upgrade=False, http10=True
    )
    assert head.startswith(b"GET / HTTP/1.0\r\n")


def test_an_upgrade_keeps_its_connection_and_upgrade_headers() -> None:
    head, _, _ = request_head(
        b"GET",
        b"/ws",
        [(b"Host", b"h"), (b"Connection", b"Upgrade"), (b"Upgrade", b"websocket")],
        b"10.0.0.9",
        frozenset(),
        upgrade=True,
    )
    assert head.endswith(b"Connection: upgrade\r\nUpgrade: websocket\r\n\r\n")


def test_head_size_counts_the_line_and_headers() -> None:
    assert head_size(b"/abc", [(b"Host", b"x"), (b"A", b"bb")]) == 4 + 12 + 9 + 7


def test_the_response_head_loses_connection_headers_and_names_the_version() -> None:
    head = rewrite_response_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n"
        b"Keep-Alive: timeout=5\r\nx-andon-version: forged\r\nServer: s\r\n\r\n",
        VERSION,
        close=False,
        http10=False,
    )
    assert head == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: s\r\nX-Andon-Version: v2\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("head", "status", "head_only", "framing"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 200, False, LENGTH),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n", 200, False, CHUNKED),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 200, False, UNTIL_CLOSE),
        (b"HTTP/1.1 200 OK\r\n\r\n", 200, False, UNTIL_CLOSE),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 200, True, NO_BODY),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, False, NO_BODY),
        (b"HTTP/1.1 304 Not Modified\r\n\r\n", 304, False, NO_BODY),
    ],
)
def test_the_framing_of_a_response(head: bytes, status: int, head_only: bool, framing: int) -> None:
    assert response_framing(head, status, head_only=head_only) == framing


def test_a_closing_response_says_so_and_speaks_http11() -> None:
    head = rewrite_response_head(
        b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\n", VERSION, close=True, http10=False
    )
    assert (
        head
        == b"HTTP/1.1 200 OK\r\nServer: old\r\nX-Andon-Version: v2\r\nConnection: close\r\n\r\n"
    )


def test_an_http10_client_that_keeps_alive_is_told_so() -> None:
    head = rewrite_response_head(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", VERSION, close=False, http10=True
    )
    assert head.endswith(b"Connection: keep-alive\r\n\r\n")


def test_a_switch_keeps_its_upgrade_headers() -> None:
    head = switching_head(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        VERSION,
    )
    assert head == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"X-Andon-Version: v2\r\n\r\n"
    )


def test_error_responses_are_short_text() -> None:
    assert error_response(503, "No ready instance.", VERSION, close=True) == (
        b"HTTP/1.1 503 Service Unavailable\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\n"
        b"X-Andon-Version: v2\r\nConnection: close\r\n\r\nNo ready instance.\n"
    )
