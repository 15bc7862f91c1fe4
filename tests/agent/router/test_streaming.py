"""Bodies stream through the router without being held whole: a 20 MB upload and a 20 MB
download (to a client slower than the instance) leave the router process's peak memory
far below 20 MB above where it started. The router runs as its own process here, as
``serve`` runs it, so /proc tells its memory alone."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from andon.agent.router import Instance, RouterConfig, Version

SIZE = 20 * 1024 * 1024
PIECE = 64 * 1024

_SERVE = """
import json, sys
from andon.agent.router import RouterConfig, serve
serve(RouterConfig.from_dict(json.loads(sys.argv[1])), "127.0.0.1", int(sys.argv[2]))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


@pytest.fixture
def router_process() -> Iterator[Any]:
    """Start ``serve`` in a child process for a config; yields a starter; stops it after."""
    started: list[subprocess.Popen[bytes]] = []

    def start(config: RouterConfig) -> tuple[subprocess.Popen[bytes], int]:
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, "-c", _SERVE, json.dumps(config.to_dict()), str(port)],
            env={**os.environ, "PYTHONWARNINGS": "error"},
        )
        started.append(process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return process, port
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the router process did not start listening")

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            assert process.wait(10) == 0  # it stops cleanly on SIGTERM


def test_twenty_megabytes_stream_up_and_down_without_growing_the_router(
    kit: Any, router_process: Any
) -> None:
    async def counter(request: Any, reader: Any, writer: Any) -> bool:
        if request.path == "/download":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            piece = b"%x\r\n%s\r\n" % (PIECE, b"d" * PIECE)
            for _ in range(SIZE // PIECE):
                writer.write(piece)
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            return True
        body = str(request.body_size).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        return True

    async def scenario() -> dict[str, Any]:
        upstream = await kit.Upstream("v1", counter).start()
        config = RouterConfig(
            "prod", (Version("v1", (Instance("127.0.0.1", upstream.port),), 100),)
        )
        process, port = router_process(config)
        try:
            async with kit.HttpClient(port) as client:
                assert (await client.request()).status == 200  # warm: code loaded, pools made
                before = _memory(process.pid)
                uploaded = await _upload(client, chunked=False)
                uploaded_chunked = await _upload(client, chunked=True)
                received = await _slow_download(client)
            after = _memory(process.pid)
            return {
                "uploaded": uploaded,
                "uploaded_chunked": uploaded_chunked,
                "received": received,
                "growth": after["VmHWM"] - before["VmRSS"],
            }
        finally:
            await upstream.stop()

    outcome = kit.run(scenario(), timeout=30)
    assert outcome["uploaded"] == str(SIZE).encode()
    assert outcome["uploaded_chunked"] == str(SIZE).encode()
    assert outcome["received"] == SIZE
    assert outcome["growth"] < 8 * 1024 * 1024, outcome


async def _upload(client: Any, *, chunked: bool) -> bytes:
    writer = client.writer
    if chunked:
        writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    else:
        writer.write(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % SIZE)
    piece = b"u" * PIECE
    for _ in range(SIZE // PIECE):
        writer.write(b"%x\r\n%s\r\n" % (PIECE, piece) if chunked else piece)
        await writer.drain()
    if chunked:
        writer.write(b"0\r\n\r\n")
    response = await client.read_response()
    assert response.status == 200
    return bytes(response.body)


async def _slow_download(client: Any) -> int:
    received = 0
    reads = 0

    def count(body: bytes) -> None:
        nonlocal received
        received += len(body)

    client.writer.write(b"GET /download HTTP/1.1\r\nHost: x\r\n\r\n")
    reader = client.reader

    # A client slower than the instance: the router must hold the instance back, not
    # buffer the difference.
    original = reader.read

    async def slow_read(size: int = -1) -> bytes:
        nonlocal reads
        reads += 1
        if reads % 8 == 0:
            await asyncio.sleep(0.002)
        return await original(min(size, PIECE) if size > 0 else PIECE)

    reader.read = slow_read
    try:
        response = await client.read_response(count)
    finally:
        reader.read = original
    assert response.status == 200
    return received
