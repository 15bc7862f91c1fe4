"""End to end, the agent as a real process (``python -m andon agent``): killed with
SIGKILL, its instances keep serving and writing their logs; restarted, it re-adopts the
ones still running (same pid), restarts the ones that died meanwhile, and restores the
routing. Stopping it leaves instances running; a second agent cannot take its state."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from andon.agent import read_token, spawn_agent
from andon.agent.router import router_namespace
from andon.errors import AndonError
from andon.testing import kill_agent_leftovers

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

    def call_text(self, path: str) -> str:
        with self.client() as client:
            response = client.get(path)
        assert response.is_success, response.text
        return response.text

    def instance(self, instance_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self.call("GET", f"/instances/{instance_id}")
        return data

    def start_instance(self, instance_id: str, version: str = "1.0") -> dict[str, Any]:
        body = {
            "id": instance_id,
            "version": version,
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
        # Instances and routers outlive agents by design.
        kill_agent_leftovers(self.state)


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


def router_pids(state: Path) -> set[int]:
    """The router worker processes of the agent with state directory ``state``."""
    prefix = router_namespace(state).encode()
    found = set()
    for process in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            arguments = (process / "cmdline").read_bytes().split(b"\0")
            if any(argument.startswith(prefix) for argument in arguments):
                found.add(int(process.name))
    return found


class Traffic:
    """Requests through the router, one after another, from two threads: one on a single
    kept-alive connection, one on a new connection each time. Counts what succeeded and
    keeps what failed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.done = threading.Event()
        self.answers: dict[str, list[str]] = {"kept": [], "new": []}
        self.failures: list[str] = []
        self.threads = [
            threading.Thread(target=self._kept_alive, daemon=True),
            threading.Thread(target=self._new_each_time, daemon=True),
        ]

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        for thread in self.threads:
            thread.join(10)

    def counts(self) -> tuple[int, int]:
        return len(self.answers["kept"]), len(self.answers["new"])

    def _kept_alive(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            reader = sock.makefile("rb")
            while not self.done.is_set():
                try:
                    sock.sendall(b"GET /hello HTTP/1.1\r\nHost: shop\r\n\r\n")
                    self._record("kept", _read_response(reader))
                except OSError as exc:
                    self.failures.append(f"kept-alive connection: {exc!r}")
                    return

    def _new_each_time(self) -> None:
        while not self.done.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                    sock.sendall(b"GET /hello HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n")
                    self._record("new", _read_response(sock.makefile("rb")))
            except OSError as exc:
                self.failures.append(f"new connection: {exc!r}")

    def _record(self, kind: str, response: tuple[int, str]) -> None:
        status, body = response
        if status == 200:
            self.answers[kind].append(body)
        else:
            self.failures.append(f"{kind}: {status} {body}")


def _read_response(reader: Any) -> tuple[int, str]:
    status = int(reader.readline().split()[1])
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, reader.read(length).decode()


def test_the_router_outlives_a_killed_agent_and_the_next_agent_takes_it_up(
    agents: Agents,
) -> None:
    agent = agents.start()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        listen = probe.getsockname()[1]
    agents.call("PUT", "/environments/test", {"listen_port": listen, "routing": {}})
    agents.start_instance("test-web-a")
    eventually("the router to serve", lambda: answer_through(listen) == "test-web-a")
    routers = router_pids(agents.state)
    assert len(routers) == 1

    with Traffic(listen) as traffic:
        eventually("traffic to flow", lambda: min(traffic.counts()) >= 20)
        agent.kill()
        agent.wait()
        before = traffic.counts()
        eventually(
            "requests with the agent dead",
            lambda: min(a - b for a, b in zip(traffic.counts(), before, strict=True)) >= 50,
        )
        assert router_pids(agents.state) == routers
        agents.start()
        after = traffic.counts()
        eventually(
            "requests after the restart",
            lambda: min(a - b for a, b in zip(traffic.counts(), after, strict=True)) >= 50,
        )

    assert traffic.failures == []
    assert set(traffic.answers["kept"]) == set(traffic.answers["new"]) == {"test-web-a"}
    # The new agent took up the same router process, and drives it.
    assert router_pids(agents.state) == routers
    assert "took up the router of environment test" in agents.log.read_text()
    agents.start_instance("test-web-b")
    eventually(
        "the router to balance over both instances",
        lambda: {answer_through(listen) for _ in range(10)} == {"test-web-a", "test-web-b"},
    )
    # Its counters span both agents' lives: the router never restarted.
    metrics = agents.call_text("/metrics")
    served = sum(traffic.counts())
    (line,) = [
        line
        for line in metrics.splitlines()
        if line.startswith('andon_router_requests_total{env="test",version="1.0",class="2xx"}')
    ]
    assert float(line.split()[-1]) >= served
    counted = agents.call("GET", "/environments/test/traffic")["versions"]["1.0"]["requests"]
    assert counted["2xx"] >= served and counted["5xx"] == 0

    agents.call("DELETE", "/environments/test")
    assert router_pids(agents.state) == set()
    assert answer_through(listen) is None


def answer_through(port: int) -> str | None:
    """What the router on ``port`` answers, or None when nothing does."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/hello", timeout=2.0).text
    except httpx.HTTPError:
        return None


def test_header_routes_and_mirroring_reach_real_instances_through_the_agent_s_router(
    agents: Agents,
) -> None:
    agents.start()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        listen = probe.getsockname()[1]
    routing = {
        "weights": {"1.0": 100, "2.0": 0},
        "routes": [{"header": "X-Canary", "value": "always", "version": "2.0"}],
        "mirror": {"version": "2.0", "percent": 100},
    }
    agents.call("PUT", "/environments/test", {"listen_port": listen, "routing": routing})
    agents.start_instance("test-web-stable", "1.0")
    agents.start_instance("test-web-canary", "2.0")
    url = f"http://127.0.0.1:{listen}/hello"
    eventually("the router to serve", lambda: answer_through(listen) == "test-web-stable")

    with httpx.Client() as client:
        plain = [client.get(url) for _ in range(20)]
        routed = client.get(url, headers={"X-Canary": "always"})

    # Customers get the stable version; the canary answers the header route only, and
    # sees a copy of every request, its answers dropped.
    assert {(r.status_code, r.text, r.headers["x-andon-version"]) for r in plain} == {
        (200, "test-web-stable", "1.0")
    }
    assert (routed.text, routed.headers["x-andon-version"]) == ("test-web-canary", "2.0")
    canary_log = agents.state / "logs" / "test-web-canary.log"
    eventually(
        "the mirrored copies to reach the canary",
        lambda: canary_log.read_text().count("request /hello") >= 21,
    )
    counted = agents.call("GET", "/environments/test/traffic")["versions"]
    assert counted["2.0"]["mirror"]["2xx"] >= 20
