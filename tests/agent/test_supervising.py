"""The supervisor with real processes: readiness, crashes restarted with backoff until a
crash loop, failed liveness checks, graceful and forced stops of whole process groups, and
logs rotated under a chatty instance. Intervals are shortened; nothing sleeps a fixed time
where a condition can be awaited."""

from __future__ import annotations

import asyncio
import itertools
import os
import shlex
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx

from andon.agent import InstancePhase, InstanceRecord, InstanceSpec, Supervisor, SupervisorPolicy

T = TypeVar("T")
PYTHON = shlex.quote(sys.executable)
FAST = SupervisorPolicy(
    poll_interval=0.02,
    readiness_interval=0.05,
    liveness_interval=0.05,
    health_timeout=1.0,
    ready_after=0.3,
    backoff_base=0.05,
    drain_seconds=0.05,
    rotate_interval=0.05,
)

# A tiny service: answers with its pid and environment; its health check fails while the
# file named by SICK_FLAG exists; says "bye" and exits 0 on SIGTERM.
APP = textwrap.dedent(
    """
    import http.server, json, os, signal

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            sick = os.path.exists(os.environ.get("SICK_FLAG", "sick"))
            status = 500 if sick and self.path == "/healthz" else 200
            names = ("PORT", "ANDON_ENV", "ANDON_VERSION", "ANDON_INSTANCE", "GREETING")
            data = {"pid": os.getpid(), "env": {n: os.environ.get(n) for n in names}}
            body = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            pass

    def bye(signum, frame):
        print("bye", flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, bye)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    print("serving on", os.environ["PORT"], flush=True)
    server.serve_forever()
    """
)


async def eventually(what: str, probe: Callable[[], T], timeout: float = 10.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def release(tmp_path: Path) -> Path:
    directory = tmp_path / "release"
    directory.mkdir(exist_ok=True)
    (directory / "app.py").write_text(APP)
    return directory


def instance(tmp_path: Path, command: str, port: int, **fields: object) -> InstanceRecord:
    spec = InstanceSpec(
        environment="test",
        version="1.0",
        process="web",
        command=command,
        cwd=release(tmp_path),
        **fields,  # type: ignore[arg-type]
    )
    return InstanceRecord(id="test-web-1", spec=spec, port=port)


class Recorder:
    """Keeps every change the supervisor reports, with the time it came."""

    def __init__(self) -> None:
        self.changes: list[tuple[float, InstancePhase, int | None, bool]] = []
        self.messages: list[str] = []

    async def __call__(self, record: InstanceRecord) -> None:
        self.changes.append((time.monotonic(), record.phase, record.pid, record.draining))
        self.messages.append(record.message)

    def saw(self, phase: InstancePhase) -> bool:
        return any(change[1] is phase for change in self.changes)

    def starts(self) -> list[tuple[float, int]]:
        """When each new process was reported, and its pid."""
        seen: dict[int, float] = {}
        for at, phase, pid, _ in self.changes:
            if phase is InstancePhase.STARTING and pid is not None and pid not in seen:
                seen[pid] = at
        return sorted((at, pid) for pid, at in seen.items())


def supervise(
    tmp_path: Path, scenario: Callable[[Supervisor, Recorder], Awaitable[None]], **policy: object
) -> Recorder:
    recorder = Recorder()

    async def main() -> None:
        options = {**FAST.__dict__, **policy}
        supervisor = Supervisor(
            tmp_path / "logs", policy=SupervisorPolicy(**options), on_change=recorder
        )
        try:
            await scenario(supervisor, recorder)
        finally:
            for record in supervisor.records():
                if record.phase is not InstancePhase.CRASH_LOOP:
                    await supervisor.stop(record.id)
            await supervisor.detach()

    asyncio.run(main())
    return recorder


def group_of(pid: int) -> list[int]:
    """The live processes whose process group is ``pid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[2] == str(pid) and fields[0] not in {"Z", "X"}:
            members.append(int(entry.name))
    return members


def test_an_instance_is_ready_once_its_health_path_answers_and_gets_its_variables(
    tmp_path: Path, port: int
) -> None:
    record = instance(
        tmp_path, f"{PYTHON} app.py", port, health_path="/healthz", env={"GREETING": "hi"}
    )

    async def scenario(supervisor: Supervisor, _: Recorder) -> None:
        await supervisor.launch(record)
        assert record.phase is InstancePhase.STARTING
        await eventually("ready", lambda: record.phase is InstancePhase.READY)
        assert record.message == "ready: GET /healthz answered 200."
        async with httpx.AsyncClient() as client:
            answer = (await client.get(f"http://127.0.0.1:{port}/")).json()
        assert answer["pid"] == record.pid
        assert answer["env"] == {
            "PORT": str(port),
            "ANDON_ENV": "test",
            "ANDON_VERSION": "1.0",
            "ANDON_INSTANCE": "test-web-1",
            "GREETING": "hi",
        }
        assert record.pid is not None
        assert os.getsid(record.pid) == record.pid, "an instance has a session of its own"

    supervise(tmp_path, scenario)
    log = (tmp_path / "logs" / "test-web-1.log").read_text()
    assert f"serving on {port}" in log
    assert "bye" in log


def test_without_a_health_path_an_instance_is_ready_once_it_has_run_a_while(
    tmp_path: Path, port: int
) -> None:
    record = instance(tmp_path, "sleep 30", port)

    async def scenario(supervisor: Supervisor, recorder: Recorder) -> None:
        started = time.monotonic()
        await supervisor.launch(record)
        await eventually("ready", lambda: record.phase is InstancePhase.READY)
        assert time.monotonic() - started >= FAST.ready_after
        assert record.message.startswith("ready: running for")

    supervise(tmp_path, scenario)


def test_a_crashing_instance_is_restarted_with_backoff_until_it_is_a_crash_loop(
    tmp_path: Path, port: int
) -> None:
    command = "echo starting up; echo 'fatal: no database' >&2; exit 3"
    record = instance(tmp_path, command, port, health_path="/healthz")

    async def scenario(supervisor: Supervisor, recorder: Recorder) -> None:
        await supervisor.launch(record)
        await eventually("a crash loop", lambda: record.phase is InstancePhase.CRASH_LOOP)
        starts = recorder.starts()
        assert len(starts) == 5
        gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(starts)]
        # The delay doubles with each crash in a row.
        for gap, backoff in zip(gaps, (0.05, 0.1, 0.2, 0.4), strict=True):
            assert gap >= backoff
        assert supervisor.restarts[("test", "crash")] == 4
        assert supervisor.crash_loops["test"] == 1

    supervise(tmp_path, scenario)
    assert record.restarts == 4
    assert record.last_exit_code == 3
    assert record.pid is None
    assert record.message.startswith("crash loop: it crashed 5 times within 60s")
    assert "exited with code 3" in record.message
    assert 0 < len(record.log_tail) <= 20
    assert record.log_tail[-1] == "fatal: no database"
    assert "starting up" in record.log_tail


def test_an_instance_failing_its_liveness_checks_is_restarted(tmp_path: Path, port: int) -> None:
    flag = tmp_path / "sick"
    record = instance(
        tmp_path, f"{PYTHON} app.py", port, health_path="/healthz", env={"SICK_FLAG": str(flag)}
    )

    async def scenario(supervisor: Supervisor, recorder: Recorder) -> None:
        await supervisor.launch(record)
        await eventually("ready", lambda: record.phase is InstancePhase.READY)
        first = record.pid
        flag.touch()
        await eventually("unhealthy", lambda: recorder.saw(InstancePhase.UNHEALTHY))
        flag.unlink()
        await eventually(
            "ready again", lambda: record.phase is InstancePhase.READY and record.pid != first
        )
        assert record.restarts == 1
        assert supervisor.restarts[("test", "unhealthy")] == 1
        expected = "3 liveness checks failed in a row (GET /healthz answered 500)"
        assert any(expected in message for message in recorder.messages)

    supervise(tmp_path, scenario)


def test_a_stop_drains_then_sigterms_the_whole_group_and_the_instance_exits(
    tmp_path: Path, port: int
) -> None:
    # bash stays the group leader; a background grandchild and the service run under it.
    record = instance(tmp_path, f"sleep 300 & {PYTHON} app.py; wait", port, health_path="/")

    async def scenario(supervisor: Supervisor, recorder: Recorder) -> None:
        await supervisor.launch(record)
        await eventually("ready", lambda: record.phase is InstancePhase.READY)
        leader = record.pid
        assert leader is not None
        await eventually("three processes", lambda: len(group_of(leader)) == 3)
        status = await supervisor.stop(record.id)
        assert status.phase is InstancePhase.STOPPED
        assert status.message == "stopped: it exited on SIGTERM."
        assert group_of(leader) == []
        draining = [phase for _, phase, _, drains in recorder.changes if drains]
        assert draining[0] is InstancePhase.STOPPING
        assert record.id not in supervisor

    supervise(tmp_path, scenario)
    assert "bye" in (tmp_path / "logs" / "test-web-1.log").read_text()


def test_a_stop_sigkills_a_group_that_ignores_sigterm_after_the_stop_timeout(
    tmp_path: Path, port: int
) -> None:
    command = "trap '' TERM; sleep 300 & sleep 300 & wait"
    record = instance(tmp_path, command, port, stop_timeout=0.3)

    async def scenario(supervisor: Supervisor, _: Recorder) -> None:
        await supervisor.launch(record)
        await eventually("ready", lambda: record.phase is InstancePhase.READY)
        leader = record.pid
        assert leader is not None
        await eventually("three processes", lambda: len(group_of(leader)) == 3)
        started = time.monotonic()
        status = await supervisor.stop(record.id)
        assert time.monotonic() - started >= 0.3
        assert status.message == "stopped: killed with SIGKILL, still running 0.3s after SIGTERM."
        assert status.last_exit_code == -9
        assert group_of(leader) == []

    supervise(tmp_path, scenario)


def test_a_chatty_instance_has_its_log_rotated_and_keeps_running(tmp_path: Path, port: int) -> None:
    chatty = "while true; do echo 'a line of output that fills the log quickly'; done"
    record = instance(tmp_path, chatty, port)
    log = tmp_path / "logs" / "test-web-1.log"

    async def scenario(supervisor: Supervisor, _: Recorder) -> None:
        await supervisor.launch(record)
        rotated = log.with_name(log.name + ".2")
        await eventually("two rotations", rotated.exists)
        assert record.phase in {InstancePhase.STARTING, InstancePhase.READY}
        assert record.restarts == 0
        size = log.stat().st_size
        await eventually("more output", lambda: log.stat().st_size != size)

    supervise(tmp_path, scenario, log_max_bytes=64 * 1024, log_keep=2)
    assert not log.with_name(log.name + ".3").exists()
