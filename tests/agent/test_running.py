"""End to end, the agent as a real process (``python -m andon agent``): killed with
SIGKILL, its instances keep serving and writing their logs; restarted, it re-adopts the
ones still running (same pid), restarts the ones that died meanwhile, and restores the
routing. Stopping it leaves instances running; a second agent cannot take its state."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from andon.agent import read_token, spawn_agent
from andon.agent.processes import is_running
from andon.errors import AndonError

pytestmark = pytest.mark.e2e

T = TypeVar("T")
PYTHON = shlex.quote(sys.executable)
APP = textwrap.dedent(
    """
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
)


def eventually(what: str, probe: Callable[[], T], timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def answer(port: int) -> str | None:
    """What the instance on ``port`` answers, or None when nothing does."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/hello", timeout=2.0).text
    except httpx.HTTPError:
        return None


class Agents:
    """Starts real agents on one state directory and cleans up after them."""

    def __init__(self, tmp_path: Path, port: int) -> None:
        self.state = tmp_path / "state"
        self.port = port
        self.log = tmp_path / "agent.log"
        self.url = f"http://127.0.0.1:{port}/v1"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.release = tmp_path / "release"
        self.release.mkdir()
        (self.release / "app.py").write_text(APP)

    def start(self) -> subprocess.Popen[bytes]:
        process = spawn_agent(self.state, admin_port=self.port, log=self.log, drain_seconds=0.1)
        self.processes.append(process)

        def healthy() -> bool:
            assert process.poll() is None, self.log.read_text()
            try:
                with self.client() as client:
                    return client.get("/health").status_code == 200
            except (httpx.HTTPError, AndonError):
                return False

        eventually("the agent to answer", healthy)
        return process

    def client(self) -> httpx.Client:
        token = read_token(self.state)
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        with self.client() as client:
            response = client.request(method, path, json=body)
        assert response.is_success, response.text
        return response.json()

    def instance(self, instance_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self.call("GET", f"/instances/{instance_id}")
        return data

    def start_instance(self, instance_id: str) -> dict[str, Any]:
        body = {
            "id": instance_id,
            "version": "1.0",
            "process": "web",
            "command": f"{PYTHON} app.py",
            "cwd": str(self.release),
            "health_path": "/healthz",
            "stop_timeout": 2,
        }
        self.call("POST", "/environments/test/instances", body)
        return eventually(
            f"{instance_id} to be ready",
            lambda: (found := self.instance(instance_id))["phase"] == "ready" and found,
        )

    def cleanup(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        # Instances outlive agents by design: stop every group the agents started.
        for pid in _instance_groups(self.state):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


def _instance_groups(state: Path) -> set[int]:
    """The process groups of the instances the state file records as running."""
    try:
        document = json.loads((state / "agent-state.json").read_text())
    except (OSError, ValueError):
        return set()
    return {
        record["pid"]
        for record in document["instances"]
        if record["pid"] and is_running(record["pid"], record["start_ticks"])
    }


@pytest.fixture
def agents(tmp_path: Path, port: int) -> Iterator[Agents]:
    runner = Agents(tmp_path, port)
    try:
        yield runner
    finally:
        runner.cleanup()


def test_an_agent_killed_with_sigkill_re_adopts_live_instances_and_restarts_dead_ones(
    agents: Agents,
) -> None:
    agent = agents.start()
    routing = {"routes": [{"version": "1.0", "weight": 100}]}
    agents.call("PUT", "/environments/test", {"listen_port": 18555, "routing": routing})
    survivor = agents.start_instance("test-web-survivor")
    victim = agents.start_instance("test-web-victim")

    agent.kill()
    agent.wait()
    # With the agent gone, instances serve on and their output still reaches their logs.
    assert answer(survivor["port"]) == "test-web-survivor"
    os.kill(victim["pid"], signal.SIGKILL)
    eventually("the victim to die", lambda: answer(victim["port"]) is None)
    assert answer(survivor["port"]) == "test-web-survivor"
    survivor_log = agents.state / "logs" / "test-web-survivor.log"
    assert survivor_log.read_text().count("request /hello") == 2

    agents.start()
    adopted = agents.instance("test-web-survivor")
    assert (adopted["pid"], adopted["phase"]) == (survivor["pid"], "ready")
    assert "re-adopted by a restarted agent" in survivor_log.read_text()
    assert answer(survivor["port"]) == "test-web-survivor"
    assert survivor_log.read_text().count("request /hello") == 3

    restarted = eventually(
        "the victim to be restarted",
        lambda: (found := agents.instance("test-web-victim"))["phase"] == "ready" and found,
    )
    assert restarted["pid"] != victim["pid"]
    assert restarted["port"] == victim["port"]
    assert restarted["restarts"] == 1
    assert answer(victim["port"]) == "test-web-victim"
    environment = agents.call("GET", "/environments/test")
    assert (environment["listen_port"], environment["routing"]) == (18555, routing)
    assert {b["instance"] for b in environment["backends"]} == {
        "test-web-survivor",
        "test-web-victim",
    }
    with httpx.Client() as client:
        refused = client.get(f"{agents.url}/environments/test")
    assert refused.status_code == 401

    for instance_id in ("test-web-survivor", "test-web-victim"):
        assert agents.call("DELETE", f"/instances/{instance_id}")["phase"] == "stopped"
    assert answer(survivor["port"]) is None


def test_a_stopped_agent_leaves_its_instances_serving_and_guards_its_state(
    agents: Agents, tmp_path: Path
) -> None:
    agent = agents.start()
    agents.call("PUT", "/environments/test", {})
    instance = agents.start_instance("test-web-a")

    second = subprocess.run(
        [sys.executable, "-m", "andon", "agent", "--admin-port", "1", "--state", str(agents.state)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert second.returncode == 1
    assert "another agent is running with the state directory" in second.stderr

    agent.send_signal(signal.SIGTERM)
    # uvicorn shuts down cleanly, then dies of the signal it caught, as is the convention.
    assert agent.wait(timeout=15) == -signal.SIGTERM
    assert "Application shutdown complete." in agents.log.read_text()
    assert answer(instance["port"]) == "test-web-a"
    os.killpg(instance["pid"], signal.SIGKILL)
