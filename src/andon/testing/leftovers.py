"""What an agent leaves running by design — its instances and its environments' routers
outlive it — killed at the end of a test, so that tests leave no process behind."""

from __future__ import annotations

import time
from pathlib import Path

from andon.agent import kill_agent_leftovers as kill_everything
from andon.agent import processes as running_processes
from andon.agent.router import workers as router_workers

_REAP_WAIT_S = 2.0


def kill_agent_leftovers(state_dir: Path) -> None:
    """SIGKILL the instances the agent's state file records as running and the router
    workers of its environments, and reap those this process started."""
    _reap(kill_everything(state_dir))


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
