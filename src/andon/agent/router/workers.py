"""One environment served by several processes on one port, for more throughput than one
Python process gives: each worker runs a :class:`~andon.agent.router.server.Router` bound
with SO_REUSEPORT, and the kernel spreads connections among them.

The parent talks to each worker over its stdin and stdout, one JSON object per line:
``{"apply": config}`` pushes a config (every worker has swapped when :meth:`apply`
returns), ``{"snapshot": true}`` asks for its counters, which :meth:`snapshot` adds up.
A worker stops on ``{"stop": grace}``, on SIGTERM, or when its stdin closes (its parent
died), so no worker outlives the process that started it; a worker that dies is replaced
by the next :meth:`RouterWorkers.check` (which :meth:`~RouterWorkers.apply` runs first).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
from typing import Any

from andon.agent.router.config import RouterConfig
from andon.agent.router.metrics import merge_snapshots, render_prometheus
from andon.errors import ConfigurationError, PortInUseError

WORKER_MODULE = "andon.agent.router.worker"


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lock = asyncio.Lock()

    async def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        """Send one command and read its one-line answer."""
        assert self.process.stdin is not None and self.process.stdout is not None
        async with self.lock:
            self.process.stdin.write(json.dumps(command).encode() + b"\n")
            await self.process.stdin.drain()
            line = await self.process.stdout.readline()
        if not line:
            raise ConnectionError(f"router worker {self.process.pid} exited")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            kind = PortInUseError if answer.get("kind") == "PortInUseError" else ConfigurationError
            raise kind(str(answer["error"]))
        return answer


class RouterWorkers:
    """``count`` worker processes routing one environment on ``host:port``."""

    def __init__(self, config: RouterConfig, *, count: int) -> None:
        if count < 1:
            raise ValueError("a router needs at least one worker")
        self.config = config
        self.count = count
        self.port = 0
        self._workers: list[_Worker] = []
        self._reserved: socket.socket | None = None

    @property
    def address(self) -> tuple[str, int]:
        return (self._host, self.port)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Start the workers; each is listening when this returns.

        With port 0 a free port is chosen first and every worker binds that one.
        Raises :class:`~andon.errors.PortInUseError` when the port is taken.
        """
        self._host = host
        self._reserved = _reserve(host, port)
        self.port = self._reserved.getsockname()[1]
        try:
            for _ in range(self.count):
                self._workers.append(await self._spawn())
        except BaseException:
            await self.stop(grace=0)
            raise
        finally:
            # Workers hold the port now; the reservation only kept it from others.
            self._reserved.close()
            self._reserved = None

    async def _spawn(self) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            WORKER_MODULE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        worker = _Worker(process)
        try:
            await worker.ask(
                {"start": self.config.to_dict(), "host": self._host, "port": self.port}
            )
        except BaseException:
            if process.returncode is None:
                process.kill()
            await process.wait()
            raise
        return worker

    async def check(self) -> int:
        """Replace workers that died (with the current config); how many were replaced.

        :meth:`apply` and :meth:`snapshot` check first; the agent may also call this
        now and then, as the port stays served by the others meanwhile.
        """
        replaced = 0
        for index, worker in enumerate(self._workers):
            if worker.process.returncode is not None:
                self._workers[index] = await self._spawn()
                replaced += 1
        return replaced

    async def apply(self, config: RouterConfig) -> None:
        """Push ``config`` to every worker; each has swapped when this returns."""
        await self.check()
        data = config.to_dict()
        await asyncio.gather(*(worker.ask({"apply": data}) for worker in self._workers))
        self.config = config

    async def snapshots(self) -> list[dict[str, Any]]:
        """Each worker's counters, in worker order (a replaced worker starts from zero)."""
        await self.check()
        answers = await asyncio.gather(
            *(worker.ask({"snapshot": True}) for worker in self._workers)
        )
        return [answer["snapshot"] for answer in answers]

    async def snapshot(self) -> dict[str, Any]:
        """The workers' counters, added up (see :func:`merge_snapshots`)."""
        return merge_snapshots(await self.snapshots())

    async def render_prometheus(self) -> str:
        return render_prometheus(await self.snapshot())

    @property
    def pids(self) -> list[int]:
        return [worker.process.pid for worker in self._workers]

    async def stop(self, grace: float = 5.0) -> None:
        """Ask every worker to stop (in-flight requests get ``grace`` seconds); kill any
        that does not exit in time."""
        for worker in self._workers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(worker.ask({"stop": grace}), grace + 2)
        for worker in self._workers:
            process = worker.process
            try:
                await asyncio.wait_for(process.wait(), 2)
            except TimeoutError:
                process.kill()
                await process.wait()
            for stream in (process.stdin,):
                if stream is not None:
                    stream.close()
        self._workers = []


def _reserve(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` with SO_REUSEPORT (not listening): it fixes the
    port before the workers bind it too, and fails early when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortInUseError(
            f"Port {port} on {host} is in use; stop what listens there or choose another "
            "port for the router."
        ) from exc
    return sock
