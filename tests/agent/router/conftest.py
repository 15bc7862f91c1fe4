"""Real sockets for the router's tests: tiny upstream servers that answer with their
version's name (or misbehave on purpose), a small keep-alive HTTP/1.1 client, and a
helper that runs a scenario on uvloop with the router in the same event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httptools
import pytest
import uvloop

from andon.agent.router import Instance, InstanceState, Router, RouterConfig, Version


@dataclass
class Request:
    """A request as an upstream received it (the body only counted, unless kept)."""

    method: str
    path: str
    headers: dict[str, str]
    body_size: int = 0
    body: bytes = b""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def version(self) -> str | None:
        return self.headers.get("x-andon-version")


Handler = Callable[[Request, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


async def answer_with_name(name: str, request: Request, writer: asyncio.StreamWriter) -> bool:
    body = name.encode()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    return True


class Upstream:
    """An instance of version ``name``: an asyncio server that reads each request (body
    streamed and counted) and calls ``handler``; by default it answers 200 with its name.
    The handler returns whether the connection stays open."""

    def __init__(self, name: str, handler: Handler | None = None, keep_body: bool = False) -> None:
        self.name = name
        self.handler = handler
        self.keep_body = keep_body
        self.requests: list[Request] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> Upstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def instance(self, state: str = "ready") -> Instance:
        return Instance("127.0.0.1", self.port, InstanceState(state))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                request = await self._read(reader)
                if request is None:
                    break
                self.requests.append(request)
                if self.handler is None:
                    keep = await answer_with_name(self.name, request, writer)
                else:
                    keep = await self.handler(request, reader, writer)
                await writer.drain()
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        line, *lines = head.decode("latin-1").split("\r\n")
        method, path, _ = line.split(" ", 2)
        headers: dict[str, str] = {}
        for item in lines:
            if item:
                name, _, value = item.partition(":")
                headers[name.strip().lower()] = value.strip()
        request = Request(method, path, headers)
        if headers.get("upgrade"):
            return request
        if "content-length" in headers:
            await self._body(reader, request, int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").endswith("chunked"):
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                await self._body(reader, request, size)
                await reader.readexactly(2)
                if size == 0:
                    break
        return request

    async def _body(self, reader: asyncio.StreamReader, request: Request, size: int) -> None:
        while size:
            piece = await reader.read(min(size, 65536))
            if not piece:
                raise asyncio.IncompleteReadError(b"", size)
            size -= len(piece)
            request.body_size += len(piece)
            if self.keep_body:
                request.body += piece


class HttpClient:
    """One keep-alive client connection to the router."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> HttpClient:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def request(
        self,
        method: str = "GET",
        path: str = "/",
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> Response:
        assert self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", "Host: shop.test"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return await self.read_response()

    async def read_response(self, sink: Callable[[bytes], None] | None = None) -> Response:
        """The next response; with ``sink``, the body goes there instead of into memory."""
        assert self.reader is not None
        return await read_response(self.reader, sink)


async def read_response(
    reader: asyncio.StreamReader, sink: Callable[[bytes], None] | None = None
) -> Response:
    parts: dict[str, Any] = {"headers": {}, "body": [], "done": False}

    class Callbacks:
        def on_header(self, name: bytes, value: bytes) -> None:
            parts["headers"][name.decode().lower()] = value.decode("latin-1")

        def on_body(self, body: bytes) -> None:
            if sink is None:
                parts["body"].append(body)
            else:
                sink(body)

        def on_message_complete(self) -> None:
            parts["done"] = True

    parser = httptools.HttpResponseParser(Callbacks())
    while not parts["done"]:
        data = await reader.read(65536)
        if not data:
            raise ConnectionError("the router closed the connection mid-response")
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            break
    return Response(parser.get_status_code(), parts["headers"], b"".join(parts["body"]))


@dataclass
class Stage:
    """Upstreams and a router started in the running loop; stopped by ``close``."""

    upstreams: dict[str, Upstream] = field(default_factory=dict)
    router: Router | None = None

    @property
    def port(self) -> int:
        assert self.router is not None
        return self.router.address[1]

    def client(self) -> HttpClient:
        return HttpClient(self.port)

    async def close(self) -> None:
        if self.router is not None:
            await self.router.stop(grace=1.0)
        for upstream in self.upstreams.values():
            await upstream.stop()


def split_config(
    upstreams: dict[str, Upstream], weights: dict[str, int], **options: Any
) -> RouterConfig:
    """A config with one version per upstream (named like it) and these weights."""
    versions = tuple(
        Version(name, (upstream.instance(),), weights.get(name, 0))
        for name, upstream in upstreams.items()
    )
    return RouterConfig(env=options.pop("env", "prod"), versions=versions, **options)


async def stage(
    weights: dict[str, int],
    handlers: dict[str, Handler] | None = None,
    **options: Any,
) -> Stage:
    """Start one upstream per version in ``weights`` and a router splitting between them."""
    result = Stage()
    for name in weights:
        result.upstreams[name] = await Upstream(name, (handlers or {}).get(name)).start()
    result.router = Router(split_config(result.upstreams, weights, **options))
    await result.router.start("127.0.0.1", 0)
    return result


def run(scenario: Coroutine[Any, Any, Any], timeout: float = 20.0) -> Any:
    """Run ``scenario`` on uvloop, as the router runs in production."""
    return uvloop.run(asyncio.wait_for(scenario, timeout))


@pytest.fixture
def kit() -> Any:
    """The helpers above, for the tests of this folder."""

    class Kit:
        Upstream = Upstream
        HttpClient = HttpClient
        Request = Request
        Response = Response
        stage = staticmethod(stage)
        split_config = staticmethod(split_config)
        run = staticmethod(run)
        read_response = staticmethod(read_response)
        dumps = staticmethod(json.dumps)

    return Kit
