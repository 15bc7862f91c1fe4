"""The agent as a whole, in process, with real instance processes: environments and their
routing, what the data plane is told (draining instances leave it before they are
signalled), the state written after every change, and an agent that picks up where an
earlier one stopped."""

from __future__ import annotations

import asyncio
import json
import shlex
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from andon.agent import (
    Agent,
    InstancePhase,
    InstanceSpec,
    NullDataPlane,
    SupervisorPolicy,
)
from andon.agent.processes import start_ticks
from andon.errors import ConflictError, NotFoundError, UsageError

T = TypeVar("T")
PYTHON = shlex.quote(sys.executable)
FAST = SupervisorPolicy(
    poll_interval=0.02,
    readiness_interval=0.05,
    liveness_interval=0.05,
    ready_after=0.2,
    backoff_base=0.05,
    drain_seconds=0.3,
)
APP = textwrap.dedent(
    """
    import http.server, os

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
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


async def eventually(what: str, probe: Callable[[], T], timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def web(tmp_path: Path, **fields: Any) -> InstanceSpec:
    release = tmp_path / "release"
    release.mkdir(exist_ok=True)
    (release / "app.py").write_text(APP)
    options: dict[str, Any] = {"health_path": "/", "stop_timeout": 2.0, "cwd": release, **fields}
    return InstanceSpec(
        environment="test", version="1.0", process="web", command=f"{PYTHON} app.py", **options
    )


def run(
    tmp_path: Path, scenario: Callable[[Agent, NullDataPlane], Awaitable[None]]
) -> NullDataPlane:
    plane = NullDataPlane()

    async def main() -> None:
        agent = Agent(tmp_path / "state", policy=FAST, data_plane=plane)
        await agent.start()
        try:
            await scenario(agent, plane)
        finally:
            for status in agent.all_instances():
                if status.phase is not InstancePhase.CRASH_LOOP:
                    await agent.stop_instance(status.id)
            await agent.close()

    asyncio.run(main())
    return plane


def saved(tmp_path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((tmp_path / "state" / "agent-state.json").read_text())
    return document


def test_a_draining_instance_leaves_the_routing_before_it_is_signalled(tmp_path: Path) -> None:
    async def scenario(agent: Agent, plane: NullDataPlane) -> None:
        await agent.ensure_environment("test", listen_port=None, routing={"mode": "all"})
        status = await agent.start_instance(web(tmp_path))
        await eventually("a backend", lambda: plane.views["test"].backends)
        (backend,) = plane.views["test"].backends
        assert (backend.instance, backend.port) == (status.id, status.port)
        stopping = asyncio.create_task(agent.stop_instance(status.id))
        await eventually("draining", lambda: agent.instance(status.id).draining)
        assert plane.views["test"].backends == ()
        assert saved(tmp_path)["instances"][0]["draining"] is True
        # Still answering while it drains: requests in flight can finish.
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"http://127.0.0.1:{status.port}/")
        assert answer.text == status.id
        final = await stopping
        assert final.phase is InstancePhase.STOPPED

    run(tmp_path, scenario)


def test_every_change_is_in_the_state_file_at_once(tmp_path: Path) -> None:
    async def scenario(agent: Agent, plane: NullDataPlane) -> None:
        await agent.ensure_environment("test", listen_port=8123, routing={"v": 1})
        assert saved(tmp_path)["environments"] == [
            {"name": "test", "listen_port": 8123, "routing": {"v": 1}}
        ]
        await agent.set_routing("test", {"v": 2})
        assert saved(tmp_path)["environments"][0]["routing"] == {"v": 2}
        status = await agent.start_instance(web(tmp_path), instance_id="test-web-a")
        (record,) = saved(tmp_path)["instances"]
        assert record["id"] == "test-web-a"
        assert record["pid"] == status.pid
        assert record["start_ticks"] == start_ticks(status.pid or 0)
        await eventually("ready", lambda: agent.instance("test-web-a").phase.value == "ready")
        assert saved(tmp_path)["instances"][0]["phase"] == "ready"
        await agent.stop_instance("test-web-a")
        assert saved(tmp_path)["instances"] == []
        assert plane.views["test"].routing == {"v": 2}

    run(tmp_path, scenario)


def test_wrong_requests_are_refused_with_what_to_do(tmp_path: Path, port: int) -> None:
    async def scenario(agent: Agent, plane: NullDataPlane) -> None:
        with pytest.raises(NotFoundError, match="create it first"):
            await agent.start_instance(web(tmp_path))
        await agent.ensure_environment("test", listen_port=port, routing={})
        with pytest.raises(ConflictError, match="listen port of environment 'test'"):
            await agent.ensure_environment("other", listen_port=port, routing={})
        with pytest.raises(UsageError, match="does not exist"):
            await agent.start_instance(web(tmp_path, cwd=tmp_path / "nowhere"))
        with pytest.raises(UsageError, match="not valid"):
            await agent.ensure_environment("../etc", listen_port=None, routing={})
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            with pytest.raises(ConflictError, match="in use"):
                await agent.start_instance(web(tmp_path, port=taken.getsockname()[1]))
        await agent.start_instance(web(tmp_path), instance_id="test-web-a")
        with pytest.raises(ConflictError, match="exists already"):
            await agent.start_instance(web(tmp_path), instance_id="test-web-a")
        with pytest.raises(NotFoundError):
            await agent.stop_instance("test-web-b")

    run(tmp_path, scenario)


def test_removing_an_environment_stops_its_instances(tmp_path: Path) -> None:
    async def scenario(agent: Agent, plane: NullDataPlane) -> None:
        await agent.ensure_environment("test", listen_port=None, routing={})
        first = await agent.start_instance(web(tmp_path))
        second = await agent.start_instance(web(tmp_path))
        assert first.port != second.port
        stopped = await agent.remove_environment("test")
        assert {s.id for s in stopped} == {first.id, second.id}
        assert {s.phase for s in stopped} == {InstancePhase.STOPPED}
        assert "test" not in plane.views
        assert saved(tmp_path) == {"environments": [], "format": 1, "instances": []}
        with pytest.raises(NotFoundError):
            agent.instances("test")

    run(tmp_path, scenario)


def test_a_new_agent_adopts_what_the_last_one_left_running_and_restores_its_routing(
    tmp_path: Path,
) -> None:
    async def first(agent: Agent, plane: NullDataPlane) -> None:
        await agent.ensure_environment("test", listen_port=None, routing={"keep": True})
        status = await agent.start_instance(web(tmp_path), instance_id="test-web-a")
        await eventually("ready", lambda: agent.instance(status.id).serving)

    async def main() -> None:
        agent = Agent(tmp_path / "state", policy=FAST)
        await agent.start()
        await first(agent, NullDataPlane())
        pid = agent.instance("test-web-a").pid
        await agent.close()

        plane = NullDataPlane()
        successor = Agent(tmp_path / "state", policy=FAST, data_plane=plane)
        await successor.start()
        try:
            status = successor.instance("test-web-a")
            assert (status.pid, status.phase) == (pid, InstancePhase.READY)
            assert status.message == "re-adopted by a restarted agent (ready)."
            assert plane.views["test"].routing == {"keep": True}
            assert [b.instance for b in plane.views["test"].backends] == ["test-web-a"]
            final = await successor.stop_instance("test-web-a")
            assert final.message == "stopped: it exited on SIGTERM."
        finally:
            await successor.close()

    asyncio.run(main())


def test_an_agent_finishes_a_stop_that_its_predecessor_began(tmp_path: Path) -> None:
    # A process an agent was stopping when it died, recorded as such in the state file.
    process = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        state = tmp_path / "state"
        state.mkdir()
        spec = web(tmp_path)
        record = {
            "id": "test-web-a",
            "spec": {**spec.__dict__, "cwd": str(spec.cwd), "env": {}},
            "port": 1,
            "phase": "stopping",
            "pid": process.pid,
            "start_ticks": start_ticks(process.pid),
            "draining": True,
        }
        document = {"format": 1, "environments": [{"name": "test"}], "instances": [record]}
        (state / "agent-state.json").write_text(json.dumps(document))

        async def main() -> None:
            agent = Agent(state, policy=FAST)
            await agent.start()
            try:
                await eventually("the stop", lambda: process.poll() is not None)
                await eventually("forgotten", lambda: not agent.instances("test"))
            finally:
                await agent.close()

        asyncio.run(main())
        assert process.returncode == -15
        assert saved(tmp_path)["instances"] == []
    finally:
        process.kill()
        process.wait()
