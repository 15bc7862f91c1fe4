"""An upstream connection reads responses as they come: split heads, interim answers,
bodies to the end, and it is never handed on still held back."""

from __future__ import annotations

from typing import Any

from andon.agent.router.pools import UpstreamPool
from andon.agent.router.upstream import UpstreamConnection


class FakeTransport:
    def __init__(self) -> None:
        self.reading = True
        self.closed = False

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def close(self) -> None:
        self.closed = True

    def write(self, data: bytes) -> None:
        pass


class Sink:
    """Records what the connection delivers."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def response_start(self, status: int, head: bytes, rest: bytes) -> None:
        self.events.append(("start", status, head, rest))

    def response_interim(self, head: bytes) -> None:
        self.events.append(("interim", head))

    def response_body(self, data: bytes) -> None:
        self.events.append(("body", data))

    def response_complete(self, keep_alive: bool) -> None:
        self.events.append(("complete", keep_alive))

    def upstream_upgraded(self, head: bytes, rest: bytes) -> None:
        self.events.append(("upgraded", head, rest))

    def upstream_data(self, data: bytes) -> None:
        self.events.append(("data", data))

    def upstream_lost(self, reason: str) -> None:
        self.events.append(("lost", reason))

    def upstream_writable(self, writable: bool) -> None:
        self.events.append(("writable", writable))


def _connection() -> tuple[UpstreamConnection, FakeTransport]:
    connection = UpstreamConnection(UpstreamPool(("127.0.0.1", 1), max_idle=4))
    transport = FakeTransport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    return connection, transport


def test_a_head_split_over_reads_and_a_chunked_body_pass_through_as_written() -> None:
    connection, _ = _connection()
    sink = Sink()
    connection.reset(sink, head_only=False)
    for piece in (
        b"HTTP/1.1 200 OK\r\nTransfer-En",
        b"coding: chunked\r\n\r\n3\r\nabc\r\n",
        b"0\r\n\r\n",
    ):
        connection.data_received(piece)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert sink.events == [
        ("start", 200, head, b"3\r\nabc\r\n"),
        ("body", b"0\r\n\r\n"),
        ("complete", True),
    ]


def test_an_interim_answer_comes_before_the_final_one() -> None:
    connection, _ = _connection()
    sink = Sink()
    connection.reset(sink, head_only=False)
    connection.data_received(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    )
    assert sink.events == [
        ("interim", b"HTTP/1.1 100 Continue\r\n\r\n"),
        ("start", 201, b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n", b"ok"),
        ("complete", True),
    ]


def test_a_head_answer_ends_at_its_head_and_the_connection_stays_usable() -> None:
    connection, _ = _connection()
    sink = Sink()
    connection.reset(sink, head_only=True)
    connection.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    assert sink.events[-1] == ("complete", True)
    again = Sink()
    connection.reset(again, head_only=False)
    connection.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
    assert again.events[-1] == ("complete", True)


def test_bytes_after_a_complete_response_cost_the_connection_its_reuse() -> None:
    connection, _ = _connection()
    sink = Sink()
    connection.reset(sink, head_only=False)
    connection.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxGARBAGE")
    assert sink.events[-1] == ("complete", False)


def test_a_connection_held_back_for_a_slow_client_reads_again_for_the_next() -> None:
    connection, transport = _connection()
    connection.reset(Sink(), head_only=False)
    connection.pause_reading()
    assert not transport.reading
    connection.reset(Sink(), head_only=False)
    assert transport.reading
