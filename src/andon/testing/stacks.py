"""A whole Andon on one machine for end-to-end tests: a real agent and a real server
(processes) in a private ANDON_HOME, a service registered from a real git repository, its
first pipeline green, and the real ``andon`` command to talk to them.

``with start_stack(tmp_path, service_dir) as stack:`` gives a :class:`Stack`; leaving the
block stops the server, the agent, and what the agent leaves running on purpose.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from andon.agent import read_token, spawn_agent
from andon.testing.gitrepos import git
from andon.testing.leftovers import kill_agent_leftovers

Edit = Callable[[str], str]
"""Changes the text of the service's andon.yaml."""


class StackError(AssertionError):
    """The stack did not come up, or a command it was asked failed."""


@dataclass
class Stack:
    """The server and agent the tests talk to."""

    env: dict[str, str]
    home: Path
    repo: Path
    api: httpx.Client
    agent_url: str
    agent_token: str
    port: int = 0
    """The server's port."""

    def andon(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "andon", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=self.env,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )

    def ok(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = self.andon(*args, stdin=stdin)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def kill_server(self) -> None:
        """SIGKILL the server, as a crash would; its record stays, as after a crash."""
        record = json.loads((self.home / "server.json").read_text())
        os.kill(int(record["pid"]), signal.SIGKILL)
        wait_for("the server to die", lambda: not _alive(int(record["pid"])), timeout=10)

    def start_server(self) -> None:
        """``andon start`` on the same port, as a person would after a crash."""
        self.ok("start", "--port", str(self.port))

    def environment(self, name: str) -> dict[str, Any]:
        return dict(self.api.get(f"/projects/shop/environments/{name}").json())

    def on_agent(self) -> set[str]:
        response = httpx.get(
            f"{self.agent_url}/v1/environments",
            headers={"Authorization": f"Bearer {self.agent_token}"},
        )
        return {environment["name"] for environment in response.json()["environments"]}

    def database(self, name: str) -> Path:
        return self.home / "environments" / "shop" / name / "data" / "shop.db"


def wait_for(
    what: str,
    probe: Callable[[], Any],
    timeout: float = 60.0,
    *,
    state: Callable[[], Any] | None = None,
) -> Any:
    """``probe()`` once it is truthy; StackError after ``timeout`` seconds, saying what
    ``state()`` (when given) shows then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    shown = f"; it is {state()}" if state is not None else ""
    raise StackError(f"timed out waiting for {what}{shown}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_repository(path: Path, service: Path, directory: str, edit: Edit) -> Path:
    """A git repository at ``path`` holding a copy of ``service`` in ``directory``, its
    andon.yaml changed by ``edit``, committed on ``main``."""
    copy = path / directory
    shutil.copytree(
        service, copy, ignore=shutil.ignore_patterns("__pycache__", "*.db", "*.db-*", ".*cache")
    )
    spec = copy / "andon.yaml"
    spec.write_text(edit(spec.read_text()))
    git(path.parent, "init", "-q", "-b", "main", str(path))
    git(path, "add", "-A")
    git(path, "commit", "-qm", "add the shop")
    return path


@contextlib.contextmanager
def start_stack(
    base: Path,
    service: Path,
    *,
    directory: str = "service",
    edit: Edit = lambda text: text,
    backoff: float = 60,
) -> Iterator[Stack]:
    """An agent and a server (processes) in ``base/andon-home``, with ``service`` (a
    directory holding an andon.yaml) registered from a git repository and its first
    pipeline green; everything they started is stopped after."""
    home = base / "andon-home"
    port, agent_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ANDON_HOME": str(home), "ANDON_URL": url, "ANDON_POLL_INTERVAL": "0.2"}
    env.pop("ANDON_DATABASE_URL", None)
    repo = service_repository(base / "monorepo", service, directory, edit)
    # The agent first, recorded where 'andon start' finds it (and keeps it, as it answers).
    state = home / "agent"
    agent = spawn_agent(
        state,
        admin_port=agent_port,
        log=home / "agent.log",
        drain_seconds=0,
        backoff=backoff,
        env=env,
    )
    agent_url = f"http://127.0.0.1:{agent_port}"
    record = {
        "pid": agent.pid,
        "url": agent_url,
        "state": str(state),
        "log": str(home / "agent.log"),
        "started_at": datetime.now(UTC).isoformat(),
    }
    (home / "agent.json").write_text(json.dumps(record))
    api = httpx.Client(base_url=f"{url}/api/v1", timeout=30)
    running = Stack(env, home, repo, api, agent_url, "", port)
    try:
        running.agent_token = wait_for("the agent's token", lambda: _token(state))
        started = running.ok("start", "--port", str(port))
        assert f"Its agent is running at {agent_url}" in started.stdout
        token = (home / "token").read_text("utf-8").strip()
        api.headers["Authorization"] = f"Bearer {token}"
        running.ok("project", "add", str(repo), "--dir", directory)
        wait_for(
            "the first pipeline to be green",
            lambda: [p for p in api.get("/pipelines").json() if p["status"] == "success"],
            timeout=90,
        )
        yield running
    finally:
        running.andon("stop")
        api.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            agent.wait(timeout=10)
        kill_agent_leftovers(state)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def _token(state: Path) -> str | None:
    try:
        return read_token(state)
    except Exception:
        return None
