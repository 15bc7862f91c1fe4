"""A router worker process (``python -m andon.agent.router.worker``), started and
driven by :class:`~andon.agent.router.workers.RouterWorkers` over stdin and stdout, one
JSON object per line: ``start``, ``apply``, ``snapshot``, ``stop``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

import uvloop

from andon.agent.router.config import RouterConfig
from andon.agent.router.server import Router
from andon.errors import AndonError


async def _commands() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def _answer(answer: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


async def main() -> None:
    commands = await _commands()
    router: Router | None = None
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    grace = 5.0
    while not stopping.is_set():
        reading = asyncio.ensure_future(commands.readline())
        stopped = asyncio.ensure_future(stopping.wait())
        await asyncio.wait({reading, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not reading.done():
            reading.cancel()
            break
        line = reading.result()
        if not line:  # the parent is gone
            break
        command = json.loads(line)
        try:
            if "start" in command:
                router = Router(RouterConfig.from_dict(command["start"]))
                await router.start(command["host"], command["port"], reuse_port=True)
                _answer({"ready": os.getpid()})
            elif "apply" in command and router is not None:
                router.apply(RouterConfig.from_dict(command["apply"]))
                _answer({"applied": True})
            elif "snapshot" in command and router is not None:
                _answer({"snapshot": router.metrics.snapshot()})
            elif "stop" in command:
                grace = float(command["stop"])
                _answer({"stopping": True})
                break
            else:
                _answer({"error": f"Unknown or early command {sorted(command)}."})
        except AndonError as exc:
            _answer({"error": str(exc), "kind": type(exc).__name__})
    if router is not None:
        await router.stop(grace)


if __name__ == "__main__":
    uvloop.run(main())
