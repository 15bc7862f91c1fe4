"""What the router answers when things go wrong, and that it keeps serving afterwards with
nothing leaked: 431, 400, slowloris, 502, 503, 504, retries on refused connections,
clients and upstreams that vanish mid-response."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any

from andon.agent.router import Instance, Router, RouterConfig, Timeouts, Version


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _raw(port: int, data: bytes, *, read_until_close: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    received = await reader.read() if read_until_close else await reader.read(65536)
    writer.close()
    return received


def test_a_head_over_16_kib_is_answered_431(kit: Any) -> None:
    async def scenario() -> tuple[bytes, bytes, int]:
        stage = await kit.stage({"v1": 100})
        try:
            big_header = b"X-Big: " + b"a" * 17_000 + b"\r\n"
            one_line = await _raw(
                stage.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + big_header + b"\r\n"
            )
            many = b"".join(b"X-H%d: %s\r\n" % (n, b"b" * 100) for n in range(200))
            many_lines = await _raw(stage.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
            async with stage.client() as client:
                after = (await client.request()).status
            return one_line, many_lines, after
        finally:
            await stage.close()

    one_line, many_lines, after = kit.run(scenario())
    assert one_line.startswith(b"HTTP/1.1 431 ")
    assert many_lines.startswith(b"HTTP/1.1 431 ")
    assert after == 200


def test_a_malformed_request_is_answered_400(kit: Any) -> None:
    async def scenario() -> tuple[bytes, dict]:
        stage = await kit.stage({"v1": 100})
        assert stage.router is not None
        try:
            answer = await _raw(stage.port, b"GET / HTTP/1.1\r\nHost x\r\nNo colon here\r\n\r\n")
            return answer, stage.router.metrics.snapshot()["rejected"]
        finally:
            await stage.close()

    answer, rejected = kit.run(scenario())
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close" in answer
    assert rejected["bad_request"] == 1


def test_a_client_too_slow_with_its_head_is_disconnected(kit: Any) -> None:
    timeouts = Timeouts(header=0.3)

    async def scenario() -> tuple[bytes, float, int]:
        stage = await kit.stage({"v1": 100}, timeouts=timeouts)
        assert stage.router is not None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", stage.port)
            started = asyncio.get_running_loop().time()
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
            received = b""
            for n in range(20):
                # One header line every 100 ms: never done, always a little progress.
                writer.write(b"X-Slow-%d: 1\r\n" % n)
                try:
                    received = await asyncio.wait_for(reader.read(), 0.1)
                    break
                except TimeoutError:
                    continue
            elapsed = asyncio.get_running_loop().time() - started
            writer.close()
            return received, elapsed, stage.router.metrics.rejected["timeout"]
        finally:
            await stage.close()

    received, elapsed, timeouts_counted = kit.run(scenario())
    assert received == b""  # closed, not answered
    assert 0.25 <= elapsed < 1.5  # the loop clock has millisecond steps
    assert timeouts_counted == 1


def test_no_ready_instance_is_answered_503_after_the_hold(kit: Any) -> None:
    config = RouterConfig("prod", (Version("v1", (), 100),), timeouts=Timeouts(hold=0.2))

    async def scenario() -> tuple[int, str | None, bytes, float]:
        router = Router(config)
        await router.start()
        try:
            async with kit.HttpClient(router.address[1]) as client:
                started = time.monotonic()
                response = await client.request()
                waited = time.monotonic() - started
                again = await client.request()  # the connection is still usable
                assert again.status == 503
            return response.status, response.version, response.body, waited
        finally:
            await router.stop()

    status, version, body, waited = kit.run(scenario())
    assert (status, version) == (503, "v1")
    assert body == b"No ready instance of version v1 to answer.\n"
    assert waited >= 0.19  # the loop clock has millisecond steps


def test_a_held_request_goes_to_the_version_the_next_routing_gives_it(kit: Any) -> None:
    """A recreate deploy: the old version's instances are gone, the new one's are not
    ready yet; requests wait for it instead of failing."""

    async def scenario() -> tuple[int, str | None, float]:
        v2 = await kit.Upstream("v2").start()
        router = Router(RouterConfig("prod", (Version("v1", (), 100),)))
        await router.start()
        try:
            async with kit.HttpClient(router.address[1]) as client:
                started = time.monotonic()
                asking = asyncio.ensure_future(client.request())
                while router.metrics.versions.get("v1") is None or not any(
                    v.in_flight for v in router.metrics.versions.values()
                ):
                    await asyncio.sleep(0.01)  # until the router holds it
                assert not asking.done()
                router.apply(kit.split_config({"v2": v2}, {"v2": 100}))
                response = await asking
            return response.status, response.version, time.monotonic() - started
        finally:
            await router.stop()
            await v2.stop()

    status, version, waited = kit.run(scenario())
    assert (status, version) == (200, "v2")
    assert waited < 5


def test_a_refused_connection_is_retried_on_another_instance(kit: Any) -> None:
    async def scenario() -> tuple[list[int], int]:
        upstream = await kit.Upstream("v1").start()
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            dead_port = closed.getsockname()[1]
        instances = (Instance("127.0.0.1", dead_port), upstream.instance())
        router = Router(RouterConfig("prod", (Version("v1", instances, 100),)))
        await router.start()
        try:
            async with kit.HttpClient(router.address[1]) as client:
                statuses = [(await client.request()).status for _ in range(10)]
            return statuses, len(upstream.requests)
        finally:
            await router.stop()
            await upstream.stop()

    statuses, answered = kit.run(scenario())
    assert statuses == [200] * 10
    assert answered == 10


def test_every_instance_refusing_is_answered_502(kit: Any) -> None:
    async def scenario() -> tuple[int, bytes]:
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            dead_port = closed.getsockname()[1]
        router = Router(
            RouterConfig("prod", (Version("v1", (Instance("127.0.0.1", dead_port),), 100),))
        )
        await router.start()
        try:
            async with kit.HttpClient(router.address[1]) as client:
                response = await client.request()
            return response.status, response.body
        finally:
            await router.stop()

    status, body = kit.run(scenario())
    assert status == 502
    assert body.startswith(b"No instance of version v1 answered: 127.0.0.1:")
    assert b"refused the connection" in body


def test_an_upstream_that_dies_mid_response_gives_502_and_the_router_keeps_serving(
    kit: Any,
) -> None:
    async def dies(request: Any, reader: Any, writer: Any) -> bool:
        if request.path == "/before-head":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")
            return False
        if request.path == "/mid-body":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
            return False
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return True

    async def scenario() -> tuple[Any, str, list[int], int, int]:
        stage = await kit.stage({"v1": 100}, handlers={"v1": dies})
        assert stage.router is not None
        baseline = _open_fds()
        try:
            async with stage.client() as client:
                before_head = await client.request(path="/before-head")
            async with stage.client() as client:
                try:
                    await client.request(path="/mid-body")
                    mid_body = "answered"
                except ConnectionError:
                    mid_body = "closed"
            async with stage.client() as client:
                after = [(await client.request()).status for _ in range(5)]
            snapshot = stage.router.metrics.snapshot()["versions"]["v1"]
            return before_head, mid_body, after, snapshot["requests"]["5xx"], baseline
        finally:
            await stage.close()
            assert _open_fds() <= baseline

    before_head, mid_body, after, errors, _ = kit.run(scenario())
    assert before_head.status == 502
    assert b"closed the connection before the response was complete" in before_head.body
    assert mid_body == "closed"  # the client sees the truncation as a closed connection
    assert after == [200] * 5
    assert errors == 2


def test_an_upstream_too_slow_to_answer_gives_504(kit: Any) -> None:
    async def slow(request: Any, reader: Any, writer: Any) -> bool:
        await asyncio.sleep(2)
        return False

    async def scenario() -> tuple[int, bytes, float]:
        stage = await kit.stage({"v1": 100}, handlers={"v1": slow}, timeouts=Timeouts(upstream=0.3))
        try:
            async with stage.client() as client:
                started = asyncio.get_running_loop().time()
                response = await client.request()
                return response.status, response.body, asyncio.get_running_loop().time() - started
        finally:
            await stage.close()

    status, body, elapsed = kit.run(scenario())
    assert status == 504
    assert body == b"Version v1 did not answer within 0.3 s.\n"
    assert 0.3 <= elapsed < 1.0


def test_clients_that_vanish_leave_no_connection_behind(kit: Any) -> None:
    async def slow_stream(request: Any, reader: Any, writer: Any) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(50):
            writer.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        return True

    async def scenario() -> tuple[int, int, int, dict]:
        stage = await kit.stage({"v1": 100}, handlers={"v1": slow_stream})
        assert stage.router is not None
        router = stage.router
        baseline = _open_fds()
        for _ in range(10):
            reader, writer = await asyncio.open_connection("127.0.0.1", stage.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await reader.read(100)  # the response has begun
            writer.transport.abort()
        # A client that goes before the head even arrives.
        reader, writer = await asyncio.open_connection("127.0.0.1", stage.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.05)
        writer.transport.abort()
        for _ in range(50):
            await asyncio.sleep(0.02)
            # The upstreams run in this process too: their ends close a moment later.
            settled = router.pools.open_connections == 0 and not router.clients
            if settled and _open_fds() <= baseline:
                break
        try:
            return (
                router.pools.open_connections,
                len(router.clients),
                _open_fds() - baseline,
                router.metrics.snapshot()["versions"]["v1"],
            )
        finally:
            await stage.close()

    open_upstream, open_clients, fds, snapshot = kit.run(scenario())
    assert (open_upstream, open_clients) == (0, 0)
    assert fds <= 0
    assert snapshot["cancelled"] == 11
    assert snapshot["in_flight"] == 0


def test_pools_keep_connections_alive_and_return_to_baseline_on_stop(kit: Any) -> None:
    async def scenario() -> tuple[int, int, int, int]:
        stage = await kit.stage({"v1": 100})
        assert stage.router is not None
        # After the first listener: libuv keeps one spare descriptor per loop from then on.
        baseline = _open_fds()
        async with stage.client() as client:
            for _ in range(50):
                await client.request()
        during = stage.router.pools.open_connections
        connections = stage.upstreams["v1"].connections
        await stage.close()
        await asyncio.sleep(0.05)
        return during, connections, stage.router.pools.open_connections, _open_fds() - baseline

    during, connections, after, fds = kit.run(scenario())
    assert during == 1
    assert connections == 1  # 50 requests, one kept-alive upstream connection
    assert after == 0
    assert fds <= 0


def test_an_environment_with_nothing_deployed_answers_503(kit: Any) -> None:
    async def scenario() -> tuple[bytes, int]:
        router = Router(RouterConfig("prod", ()))
        await router.start()
        try:
            answer = await _raw(router.address[1], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            return answer, router.metrics.rejected["no_version"]
        finally:
            await router.stop()

    answer, counted = kit.run(scenario())
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert answer.endswith(b"Environment prod has no version deployed.\n")
    assert counted == 1
