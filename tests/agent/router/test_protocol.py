"""HTTP/1.1 details through the proxy: chunked bodies both ways, HEAD, 100-continue,
pipelining, HTTP/1.0 clients, and protocol upgrades (WebSocket-style) spliced both ways."""

from __future__ import annotations

import asyncio
from typing import Any

from andon.agent.router import Instance, Router, RouterConfig, Timeouts, Version


def test_chunked_bodies_pass_both_ways(kit: Any) -> None:
    async def chunked_echo(request: Any, reader: Any, writer: Any) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (request.body[:5], request.body[5:]):
            if piece:
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        writer.write(b"0\r\n\r\n")
        return True

    async def scenario() -> tuple[Any, Any]:
        stage = await kit.stage({"v1": 100}, handlers={"v1": chunked_echo})
        stage.upstreams["v1"].keep_body = True
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", stage.port)
            writer.write(
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"
            )
            first = await kit.read_response(reader)
            writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
            second = await kit.read_response(reader)
            writer.close()
            return first, second
        finally:
            await stage.close()

    first, second = kit.run(scenario())
    assert first.status == 200
    assert first.body == b"hello world"
    assert first.headers["transfer-encoding"] == "chunked"
    assert second.body == b"abc"


def test_a_body_that_ends_with_the_connection_ends_the_client_connection_too(kit: Any) -> None:
    async def until_close(request: Any, reader: Any, writer: Any) -> bool:
        assert request.headers.get("connection") is None
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nstreamed to the end")
        return False

    async def scenario() -> tuple[bytes, bytes, str]:
        stage = await kit.stage({"v1": 100}, handlers={"v1": until_close})
        try:
            answers = []
            for version in (b"1.1", b"1.0"):
                reader, writer = await asyncio.open_connection("127.0.0.1", stage.port)
                writer.write(b"GET / HTTP/%s\r\nHost: x\r\n\r\n" % version)
                answers.append(await reader.read())
                writer.close()
            legacy_line = stage.upstreams["v1"].requests[-1].path
            return answers[0], answers[1], legacy_line
        finally:
            await stage.close()

    modern, legacy, _ = kit.run(scenario())
    for answer in (modern, legacy):
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Connection: close\r\nX-Andon-Version" not in answer
        assert b"X-Andon-Version: v1\r\nConnection: close\r\n\r\n" in answer
        assert answer.endswith(b"\r\n\r\nstreamed to the end")


def test_an_http10_client_gets_an_unchunked_answer(kit: Any) -> None:
    async def by_version(request: Any, reader: Any, writer: Any) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        return True

    async def scenario() -> bytes:
        stage = await kit.stage({"v1": 100}, handlers={"v1": by_version})
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", stage.port)
            writer.write(b"GET / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
            answer = await reader.readuntil(b"hello")
            writer.close()
            return answer
        finally:
            await stage.close()

    answer = kit.run(scenario())
    assert b"Content-Length: 5\r\n" in answer
    assert b"Connection: keep-alive\r\n" in answer


def test_head_requests_get_headers_only(kit: Any) -> None:
    async def head(request: Any, reader: Any, writer: Any) -> bool:
        body = b"" if request.method == "HEAD" else b"hello"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + body)
        return True

    async def scenario() -> tuple[bytes, Any]:
        stage = await kit.stage({"v1": 100}, handlers={"v1": head})
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", stage.port)
            writer.write(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
            await asyncio.sleep(0.1)
            answer = await reader.read(65536)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            after = await kit.read_response(reader)
            writer.close()
            return answer, after
        finally:
            await stage.close()

    answer, after = kit.run(scenario())
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Length: 5\r\n" in answer
    assert answer.endswith(b"\r\n\r\n")
    assert after.body == b"hello"


def test_expect_100_continue_is_relayed(kit: Any) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await reader.readexactly(4)
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\n" + body)
        await writer.drain()
        await reader.read()
        writer.close()

    async def scenario() -> tuple[bytes, Any]:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        instance = Instance("127.0.0.1", port)
        router = Router(RouterConfig("prod", (Version("v1", (instance,), 100),)))
        await router.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", router.address[1])
            writer.write(
                b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
            )
            interim = await reader.readuntil(b"\r\n\r\n")
            writer.write(b"data")
            final = await kit.read_response(reader)
            writer.close()
            return interim, final
        finally:
            await router.stop()
            server.close()
            await server.wait_closed()

    interim, final = kit.run(scenario())
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert (final.status, final.body) == (201, b"data")


def test_pipelined_requests_are_answered_in_order(kit: Any) -> None:
    async def by_path(request: Any, reader: Any, writer: Any) -> bool:
        body = request.path.encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        return True

    async def scenario() -> list[bytes]:
        stage = await kit.stage({"v1": 100}, handlers={"v1": by_path})
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", stage.port)
            writer.write(b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % n for n in range(5)))
            bodies = [(await kit.read_response(reader)).body for _ in range(5)]
            writer.close()
            return bodies
        finally:
            await stage.close()

    assert kit.run(scenario()) == [b"/0", b"/1", b"/2", b"/3", b"/4"]


def test_an_upgraded_connection_is_spliced_both_ways(kit: Any) -> None:
    async def websocket_echo(request: Any, reader: Any, writer: Any) -> bool:
        assert request.headers["connection"].lower() == "upgrade"
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\n\r\nwelcome|"
        )
        while data := await reader.read(65536):
            writer.write(data.upper())
            await writer.drain()
        return False

    async def scenario() -> tuple[bytes, bytes, dict]:
        stage = await kit.stage(
            {"v1": 100}, handlers={"v1": websocket_echo}, timeouts=Timeouts(upstream=0.2)
        )
        assert stage.router is not None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", stage.port)
            writer.write(
                b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\nearly|"
            )
            head = await reader.readuntil(b"\r\n\r\n")
            echoed = b""
            while len(echoed) < len(b"welcome|EARLY|"):
                echoed += await reader.read(65536)
            # Quieter than the upstream timeout: a tunnel is not an answer that is late.
            await asyncio.sleep(0.5)
            for word in (b"ping|", b"pong|", b"x" * 100_000):
                writer.write(word)
                want = len(echoed) + len(word)
                while len(echoed) < want:
                    echoed += await reader.read(65536)
            writer.close()
            await asyncio.sleep(0.05)
            return head, echoed, stage.router.metrics.snapshot()["versions"]["v1"]
        finally:
            await stage.close()

    head, echoed, metrics = kit.run(scenario())
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Upgrade: websocket\r\n" in head
    assert b"X-Andon-Version: v1\r\n" in head
    assert echoed == b"welcome|EARLY|PING|PONG|" + b"X" * 100_000
    assert metrics["requests"]["1xx"] == 1
    assert metrics["in_flight"] == 0


def test_an_upgrade_the_instance_refuses_is_an_ordinary_response(kit: Any) -> None:
    async def scenario() -> Any:
        stage = await kit.stage({"v1": 100})
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", stage.port)
            writer.write(
                b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
            )
            response = await kit.read_response(reader)
            closed = await reader.read()
            writer.close()
            return response, closed
        finally:
            await stage.close()

    response, closed = kit.run(scenario())
    assert (response.status, response.body) == (200, b"v1")
    assert closed == b""
