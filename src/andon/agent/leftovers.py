"""What an agent leaves running by design — its instances and its environments' routers
outlive it — found and killed for good: after a test, and when ``andon demo`` cleans up
the Andon it started."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

from andon.agent.processes import is_running
from andon.agent.router import router_namespace


def kill_agent_leftovers(state_dir: Path) -> set[int]:
    """SIGKILL the instances the agent's state file (in ``state_dir``) records as running
    and the router workers of its environments (found by their control names on their
    command lines); the pids killed."""
    killed: set[int] = set()
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
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
    return killed
