"""One environment served by several processes on one port, for more throughput than one
Python process gives: each worker runs a :class:`~andon.agent.router.server.Router` bound
with SO_REUSEPORT, and the kernel spreads connections among them.

The parent talks to each worker one JSON object per line: ``{"apply": config}`` pushes a
config (every worker has swapped when :meth:`apply` returns), ``{"snapshot": true}`` asks
for its counters, which :meth:`snapshot` adds up, ``{"stop": grace}`` stops it. Attached
workers (the default) talk over their stdin and stdout and stop when their parent dies.
Detached workers (``control=``, what the agent uses) talk over abstract Unix sockets, live
in sessions of their own and serve on when their parent is gone; :meth:`adopt` takes them
up again. A worker that dies is replaced by the next :meth:`RouterWorkers.check` (which
:meth:`~RouterWorkers.apply` runs first).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from asyncio.subprocess import Process
from pathlib import Path
from typing import Any

from andon.agent.router.config import RouterConfig
from andon.agent.router.metrics import merge_snapshots, render_prometheus
from andon.errors import AndonError, ConfigurationError, PortInUseError

WORKER_MODULE = "andon.agent.router.worker"


class _Worker:
    """One worker process and the channel its commands go through: its stdin and stdout
    (attached), or its control socket (detached)."""

    def __init__(
        self,
        pid: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter | asyncio.subprocess.Process,
        *,
        process: asyncio.subprocess.Process | subprocess.Popen[bytes] | None = None,
    ) -> None:
        self.pid = pid
        self.reader = reader
        self._writer = writer
        self.process = process
        self.lock = asyncio.Lock()

    @property
    def alive(self) -> bool:
        """False once the worker is known to have exited (or its channel closed)."""
        if isinstance(self.process, subprocess.Popen):
            return self.process.poll() is None and not self.reader.at_eof()
        if self.process is not None:
            return self.process.returncode is None
        return not self.reader.at_eof()

    async def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        """Send one command and read its one-line answer."""
        async with self.lock:
            stream = self._writer.stdin if isinstance(self._writer, Process) else self._writer
            assert stream is not None
            try:
                stream.write(json.dumps(command).encode() + b"\n")
                await stream.drain()
                line = await self.reader.readline()
            except (ConnectionError, OSError):
                line = b""
        if not line:
            raise ConnectionError(f"router worker {self.pid} exited")
        answer: dict[str, Any] = json.loads(line)
        _raise_for(answer)
        return answer

    def close(self) -> None:
        """Let go of the channel (a detached worker serves on)."""
        if not isinstance(self._writer, Process):
            self._writer.close()


class RouterWorkers:
    """``count`` worker processes routing one environment on ``host:port``.

    Attached (``control=None``), the workers stop when this process goes. Detached, each
    worker ``i`` takes commands on the abstract socket ``{control}.{i}``, lives in a
    session of its own and serves on after this process is gone, its errors appended to
    ``log``; :meth:`detach` lets go of it and :meth:`adopt` (in the next process) takes
    it up again.
    """

    def __init__(
        self,
        config: RouterConfig,
        *,
        count: int,
        control: str | None = None,
        log: Path | None = None,
    ) -> None:
        if count < 1:
            raise ValueError("a router needs at least one worker")
        self.config = config
        self.count = count
        self.control = control
        self.log = log
        self.port = 0
        self._host = "127.0.0.1"
        self._workers: list[_Worker] = []

    @property
    def address(self) -> tuple[str, int]:
        return (self._host, self.port)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Start the workers; each is listening when this returns.

        With port 0 a free port is chosen first and every worker binds that one.
        Raises :class:`~andon.errors.PortInUseError` when the port is taken.
        """
        self._host = host
        reserved = _reserve(host, port)
        self.port = reserved.getsockname()[1]
        try:
            for index in range(self.count):
                self._workers.append(await self._spawn(index))
        except BaseException:
            await self.stop(grace=0)
            raise
        finally:
            # Workers hold the port now; the reservation only kept it from others.
            reserved.close()

    async def adopt(self, host: str, port: int) -> bool:
        """Take up the detached workers a previous process left serving ``host:port``,
        push them the current config and start any missing; False (and the found workers
        stopped) when there were none, or they serve another address."""
        assert self.control is not None, "only detached workers can be adopted"
        self._host, self.port = host, port
        found = await find_workers(self.control)
        usable = all((hello["host"], hello["port"]) == (host, port) for _, hello in found.values())
        if not found or not usable:
            for worker, _ in found.values():
                await stop_worker(worker, grace=0)
            return False
        for index in sorted(found):
            worker = found[index][0]
            if index < self.count:
                self._workers.append(worker)
            else:
                await stop_worker(worker, grace=5.0)
        for index in range(len(self._workers), self.count):
            self._workers.append(await self._spawn(index))
        await self.apply(self.config)
        return True

    async def _spawn(self, index: int) -> _Worker:
        command = [sys.executable, "-m", WORKER_MODULE]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if self.control is None:
            process = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env
            )
            assert process.stdout is not None
            worker = _Worker(process.pid, process.stdout, process, process=process)
            try:
                await worker.ask(self._start_command())
            except BaseException:
                if process.returncode is None:
                    process.kill()
                await process.wait()
                raise
            return worker
        return await self._spawn_detached([*command, "--control", self._name(index)], env)

    async def _spawn_detached(self, command: list[str], env: dict[str, str]) -> _Worker:
        # Popen, not asyncio's subprocess: closing an asyncio subprocess transport kills
        # the child, and this one must outlive us.
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log, "ab") if self.log is not None else None  # noqa: SIM115
        try:
            popen = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log if log is not None else subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
                env=env,
            )
        finally:
            if log is not None:
                log.close()
        name = command[-1]
        try:
            answer = await asyncio.wait_for(
                asyncio.to_thread(_handshake, popen, self._start_command()), _SPAWN_TIMEOUT
            )
            _raise_for(answer)
            reader, writer = await _connect(name)
        except BaseException:
            popen.kill()
            await asyncio.to_thread(popen.wait)
            raise
        _LET_GO.append(popen)
        return _Worker(popen.pid, reader, writer, process=popen)

    def _start_command(self) -> dict[str, Any]:
        return {"start": self.config.to_dict(), "host": self._host, "port": self.port}

    def _name(self, index: int) -> str:
        return f"{self.control}.{index}"

    async def check(self) -> int:
        """Replace workers that died (with the current config); how many were replaced.

        :meth:`apply` and :meth:`snapshot` check first; the agent may also call this
        now and then, as the port stays served by the others meanwhile.
        """
        replaced = 0
        for index, worker in enumerate(self._workers):
            if not worker.alive:
                worker.close()
                self._workers[index] = await self._spawn(index)
                replaced += 1
        return replaced

    async def apply(self, config: RouterConfig) -> None:
        """Push ``config`` to every worker; each has swapped when this returns."""
        self.config = config
        await self.check()
        data = config.to_dict()
        await asyncio.gather(*(worker.ask({"apply": data}) for worker in self._workers))

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
        return [worker.pid for worker in self._workers]

    async def stop(self, grace: float = 5.0) -> None:
        """Ask every worker to stop (in-flight requests get ``grace`` seconds); kill any
        that does not exit in time."""
        await asyncio.gather(*(stop_worker(worker, grace) for worker in self._workers))
        self._workers = []

    def detach(self) -> None:
        """Let go of detached workers: they serve on with their last config."""
        for worker in self._workers:
            worker.close()
        self._workers = []


# Detached workers this process let go of: holding their Popen objects keeps the
# interpreter from warning at exit that they still run; they are meant to.
_LET_GO: list[subprocess.Popen[bytes]] = []
_SPAWN_TIMEOUT = 30.0
_UCRED = struct.Struct("3i")


def _raise_for(answer: dict[str, Any]) -> None:
    """Raise the error a worker answered with, as the type it named."""
    if "error" in answer:
        kind = PortInUseError if answer.get("kind") == "PortInUseError" else ConfigurationError
        raise kind(str(answer["error"]))


def _handshake(popen: subprocess.Popen[bytes], command: dict[str, Any]) -> dict[str, Any]:
    """Send the start command over the worker's stdin and read its answer (in a thread)."""
    assert popen.stdin is not None and popen.stdout is not None
    try:
        popen.stdin.write(json.dumps(command).encode() + b"\n")
        popen.stdin.flush()
        line = popen.stdout.readline()
    finally:
        popen.stdin.close()
        popen.stdout.close()
    if not line:
        return {"error": f"router worker {popen.pid} exited before it was ready"}
    answer: dict[str, Any] = json.loads(line)
    return answer


async def _connect(name: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the worker on the abstract socket ``name``, checked to belong to
    this user (anyone may bind an abstract name)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        # Connected here, not by open_unix_connection: uvloop refuses abstract names.
        await asyncio.get_running_loop().sock_connect(sock, "\0" + name)
        credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        if _UCRED.unpack(credentials)[1] != os.getuid():
            raise ConnectionError(f"the router control socket {name} belongs to another user")
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_unix_connection(sock=sock)


async def find_workers(control: str) -> dict[int, tuple[_Worker, dict[str, Any]]]:
    """The detached workers answering on ``{control}.{i}``, by index, with what each says
    of itself (``hello``: pid, env, host, port, config)."""
    found: dict[int, tuple[_Worker, dict[str, Any]]] = {}
    for name in abstract_names(control + "."):
        suffix = name[len(control) + 1 :]
        if not suffix.isdigit():
            continue
        try:
            reader, writer = await _connect(name)
            worker = _Worker(0, reader, writer)
            hello = await asyncio.wait_for(worker.ask({"hello": True}), 5)
        except (OSError, ConnectionError, TimeoutError, ValueError, AndonError):
            continue
        worker.pid = int(hello["pid"])
        found[int(suffix)] = (worker, hello)
    return found


def abstract_names(prefix: str) -> list[str]:
    """The abstract Unix socket names listening on this host that start with ``prefix``
    (from ``/proc/net/unix``, where they read ``@name``)."""
    try:
        lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    except OSError:
        return []
    names = set()
    for line in lines:
        fields = line.split()
        # Flags 00010000 is __SO_ACCEPTCON: a listening socket, not a connection to one.
        if len(fields) >= 8 and fields[3] == "00010000" and fields[7].startswith("@" + prefix):
            names.add(fields[7][1:])
    return sorted(names)


async def stop_worker(worker: _Worker, grace: float) -> None:
    """Ask one worker (of :func:`find_workers`) to stop; kill it if it does not exit in
    time."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(worker.ask({"stop": grace}), grace + 2)
    process = worker.process
    if isinstance(process, Process):
        try:
            await asyncio.wait_for(process.wait(), 2)
        except TimeoutError:
            process.kill()
            await process.wait()
        if process.stdin is not None:
            process.stdin.close()
        return
    worker.close()
    deadline = time.monotonic() + grace + 2
    while _exists(worker.pid, process) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    if _exists(worker.pid, process):
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGKILL)
        if process is not None:
            await asyncio.to_thread(process.wait)


def _exists(pid: int, process: subprocess.Popen[bytes] | None) -> bool:
    if process is not None:
        return process.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # An adopted worker is not our child: a zombie of it is someone else's to reap.
    return _state(pid) not in {"Z", "X", None}


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


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
