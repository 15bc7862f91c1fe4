"""Serving an Andon app over real HTTP in a test: :func:`serve` runs it on 127.0.0.1 in
a thread with the server's own uvicorn setup (open streams end before uvicorn waits for
them), and stops it when the test is done."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from andon.server.running import Server


@contextmanager
def serve(app: Any, port: int, *, timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` on ``127.0.0.1:port`` until the block ends; yields its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", log_config=None)
    server = Server(config)
    thread = threading.Thread(target=server.run, name=f"serve-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server on port {port} did not start within {timeout:g}s")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
