"""A real agent for the runtime tests (one per module: it takes a second to start) and
the instances they run."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from andon.agent import read_token, spawn_agent
from andon.errors import AndonError
from andon.testing import kill_agent_leftovers

# A tiny service that answers every path with its instance id.
APP = """\
import http.server, os

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print("request", self.path, flush=True)
        body = os.environ["ANDON_INSTANCE"].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


@dataclass(frozen=True)
class RunningAgent:
    """An agent process the tests talk to."""

    url: str
    token: str
    state: Path


@pytest.fixture(scope="module")
def running_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAgent]:
    """A real ``andon agent`` process, stopped (with its instances) after the module."""
    state = tmp_path_factory.mktemp("agent") / "state"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    log = state.parent / "agent.log"
    process = spawn_agent(state, admin_port=port, log=log, drain_seconds=0)
    url = f"http://127.0.0.1:{port}"
    try:
        token = _await_agent(process.poll, url, state, log)
        yield RunningAgent(url=url, token=token, state=state)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except Exception:
            process.kill()
            process.wait()
        kill_agent_leftovers(state)


def _await_agent(poll: object, url: str, state: Path, log: Path) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert callable(poll) and poll() is None, log.read_text()
        try:
            token = read_token(state)
            response = httpx.get(
                f"{url}/v1/health", headers={"Authorization": f"Bearer {token}"}, timeout=2
            )
            if response.status_code == 200:
                return token
        except (httpx.HTTPError, AndonError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"the agent did not start: {log.read_text()}")


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """An unpacked "release" of the tiny service."""
    directory = tmp_path / "release"
    directory.mkdir()
    (directory / "app.py").write_text(APP)
    return directory
