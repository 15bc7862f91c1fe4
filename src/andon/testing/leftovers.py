"""What an agent leaves running by design — its instances and its environments' routers
outlive it — killed at the end of a test, so that tests leave no process behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

from andon.agent import processes as running_processes
from andon.agent.processes import is_running
from andon.agent.router import router_namespace
from andon.agent.router import workers as router_workers

_REAP_WAIT_S = 2.0


def kill_agent_leftovers(state_dir: Path) -> None:
    """SIGKILL the instances the agent's state file records as running and the router
    workers of its environments (found by their control names on their command lines)."""
    killed: set[int] = set()
    with contextlib.suppress(OSError, ValueError, KeyError):
        document = json.loads((state_dir / "agent-state.json").read_text())
        for record in document["instances"]:
            if record["pid"] and is_running(record["pid"], record["start_ticks"]):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(record["pid"], signal.SIGKILL)
                    killed.add(record["pid"])
    prefix = router_namespace(state_dir).encode() + b"."
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            arguments = (process / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--control" in arguments and any(a.startswith(prefix) for a in arguments):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(process.name), signal.SIGKILL)
                killed.add(int(process.name))
    _reap(killed)


def _reap(killed: set[int]) -> None:
    """Reap those of ``killed`` that this process started and let go of, so that the
    interpreter does not warn at exit that they still run."""
    kept = [running_processes._LEFT_RUNNING, router_workers._LET_GO]
    mine = [(group, p) for group in kept for p in group if p.pid in killed]
    deadline = time.monotonic() + _REAP_WAIT_S
    while mine and time.monotonic() < deadline:
        for group, popen in list(mine):
            if popen.poll() is not None:
                group.remove(popen)
                mine.remove((group, popen))
        time.sleep(0.01)
