"""A router worker process (``python -m andon.agent.router.worker [--control NAME]``),
started and driven by :class:`~andon.agent.router.workers.RouterWorkers`, one JSON object
per line: ``start``, ``apply``, ``snapshot``, ``hello``, ``stop``.

Attached (no ``--control``), the worker takes its commands on stdin and answers on stdout,
and stops when stdin closes: it never outlives its parent. Detached (``--control NAME``),
only ``start`` comes over stdin; then the worker closes stdin and stdout and takes commands
on the abstract Unix socket ``NAME``, from processes of its own user only, one connection
after another. It serves on when its parent dies, so that an agent killed with SIGKILL
drops no connection, and the next agent finds it by its name.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import struct
import sys
from typing import Any

import uvloop

from andon.agent.router.config import RouterConfig
from andon.agent.router.server import Router
from andon.errors import AndonError

_UCRED = struct.Struct("3i")


class _Worker:
    """One worker's router and the commands that drive it."""

    def __init__(self, control: str | None) -> None:
        self.control = control
        self.router: Router | None = None
        self.host = ""
        self.port = 0
        self.grace = 5.0
        self.stopping = asyncio.Event()

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        """The answer to one command; a ``stop`` also sets :attr:`stopping`."""
        try:
            if "start" in command and self.router is None:
                self.router = Router(RouterConfig.from_dict(command["start"]))
                self.host, self.port = str(command["host"]), int(command["port"])
                await self.router.start(self.host, self.port, reuse_port=True)
                return {"ready": os.getpid()}
            if self.router is None:
                return {"error": f"Unknown or early command {sorted(command)}."}
            if "apply" in command:
                self.router.apply(RouterConfig.from_dict(command["apply"]))
                return {"applied": True}
            if "snapshot" in command:
                return {"snapshot": self.router.metrics.snapshot()}
            if "hello" in command:
                return {
                    "pid": os.getpid(),
                    "env": self.router.config.env,
                    "host": self.host,
                    "port": self.port,
                    "config": self.router.config.to_dict(),
                }
            if "stop" in command:
                self.grace = float(command["stop"])
                self.stopping.set()
                return {"stopping": True}
            return {"error": f"Unknown command {sorted(command)}."}
        except AndonError as exc:
            return {"error": str(exc), "kind": type(exc).__name__}

    async def serve_pipe(self, commands: asyncio.StreamReader) -> None:
        """Take commands on stdin until a stop, a signal, or the end of stdin."""
        while not self.stopping.is_set():
            line = await _first(commands.readline(), self.stopping.wait())
            if not line:  # stopping, or the parent is gone
                self.stopping.set()
                return
            _write_stdout(await self.handle(json.loads(line)))
            if self.control is not None and self.router is not None:
                return  # started: the control socket takes over

    async def listen_control(self) -> asyncio.Server | None:
        """Bind the abstract control socket (before ``start`` is answered, so that the
        parent can connect right after); None when another worker holds the name."""
        assert self.control is not None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind("\0" + self.control)
        except OSError:
            sock.close()
            return None
        return await asyncio.start_unix_server(self._connection, sock=sock)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            # The name is not a secret (abstract sockets have no permissions): only this
            # user's processes may drive the worker.
            peer = writer.get_extra_info("socket")
            _, uid, _ = _UCRED.unpack(
                peer.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
            )
            if uid != os.getuid():
                return
            while not self.stopping.is_set():
                line = await reader.readline()
                if not line:
                    return
                writer.write(json.dumps(await self.handle(json.loads(line))).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError):
            pass  # a client that went away or spoke nonsense: wait for the next one
        finally:
            writer.close()


async def _first(reading: Any, waiting: Any) -> bytes:
    """The line read, or b"" when ``waiting`` finishes first."""
    read, wait = asyncio.ensure_future(reading), asyncio.ensure_future(waiting)
    await asyncio.wait({read, wait}, return_when=asyncio.FIRST_COMPLETED)
    wait.cancel()
    if not read.done():
        read.cancel()
        return b""
    line: bytes = read.result()
    return line


def _write_stdout(answer: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


async def _stdin() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def main(control: str | None = None) -> None:
    worker = _Worker(control)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, worker.stopping.set)
    loop.add_signal_handler(signal.SIGINT, worker.stopping.set)
    server = None
    if control is not None:
        server = await worker.listen_control()
        if server is None:
            _write_stdout({"error": f"Another router worker holds the control name {control}."})
            return
    await worker.serve_pipe(await _stdin())
    if server is not None:
        if worker.router is not None:
            # Nothing more goes through the parent's pipes: close them, so that a parent
            # gone for good leaves nothing behind, and serve until told to stop.
            for stream in (sys.stdin, sys.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
            await worker.stopping.wait()
        server.close()
    if worker.router is not None:
        await worker.router.stop(worker.grace)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m andon.agent.router.worker")
    parser.add_argument("--control", help="the abstract Unix socket to take commands on")
    arguments = parser.parse_args()
    uvloop.run(main(arguments.control))
