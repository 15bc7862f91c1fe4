"""A real Andon for the environments benchmark: the example shop in a fresh git repository,
a private ``ANDON_HOME``, the server and its agent started by ``andon start`` on free
ports, and the real ``andon`` command run as a user runs it. ``run.py`` times
``andon env up``; :meth:`Installation.close` leaves no process behind, whatever happened.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from andon.agent.processes import is_running
from andon.artifacts import LocalArtifactStore
from andon.testing import git

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop"
SHOP_DIR = "examples/shop"
"""Where the shop sits in the benchmark's repository, as in Andon's own."""
PROJECT = "shop"
CLI_TIMEOUT_S = 120.0


class BenchmarkError(RuntimeError):
    """The benchmark could not run as it must for its figures to mean anything."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def andon_command() -> list[str]:
    """The ``andon`` command installed beside this interpreter, as a user runs it."""
    script = Path(sys.executable).parent / "andon"
    return [str(script)] if script.exists() else [sys.executable, "-m", "andon"]


def shop_repository(path: Path) -> Path:
    """A git repository at ``path`` holding examples/shop as committed: caches the shop's
    own tests leave behind (``__pycache__``, ``.hypothesis``, databases) are left out."""
    shutil.copytree(
        SHOP,
        path / SHOP_DIR,
        ignore=shutil.ignore_patterns("__pycache__", "*.db", "*.db-*", ".*cache", ".hypothesis"),
    )
    git(path.parent, "init", "-q", "-b", "main", str(path))
    git(path, "add", "-A")
    git(path, "commit", "-qm", "the example shop")
    return path


@dataclass(frozen=True)
class EnvUp:
    """One ``andon env up test --wait`` as its user saw it, and as the server recorded it."""

    wall: float
    """Seconds from launching the command to its exit, the URL printed."""
    url: str
    steps: dict[str, float]
    """Seconds of each step of the operation, by key (``unpack``, ``migrate``, ...)."""
    titles: dict[str, str]
    stderr: str


@dataclass
class Installation:
    """Andon running under ``home``, with the shop registered as project ``shop``."""

    home: Path
    repo: Path
    port: int = field(default_factory=free_port)
    agent_port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    _pids: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.env = {
            **os.environ,
            "ANDON_HOME": str(self.home),
            "ANDON_URL": self.url,
            "ANDON_POLL_INTERVAL": "0.2",
        }
        self.env.pop("ANDON_DATABASE_URL", None)
        self.api = httpx.Client(base_url=f"{self.url}/api/v1", timeout=30, trust_env=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def andon(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*andon_command(), *args],
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
            env=self.env,
            cwd=self.repo,
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            raise BenchmarkError(
                f"andon {' '.join(args)} exited {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()[-2000:]}"
            )
        return result

    def start(self) -> None:
        """``andon start`` (server and agent), then ``andon project add`` of the shop."""
        self.andon("start", "--port", str(self.port), "--agent-port", str(self.agent_port))
        # The admin token the server's first start wrote, as the CLI sends it.
        token = (self.home / "token").read_text("utf-8").strip()
        self.api.headers["Authorization"] = f"Bearer {token}"
        self._remember_daemons()
        self.andon("project", "add", str(self.repo), "--dir", SHOP_DIR)

    def await_green_pipeline(self, timeout: float = 180.0) -> dict[str, Any]:
        """The first pipeline of the shop once it succeeded (it builds the artifact)."""

        def green() -> dict[str, Any] | None:
            pipelines = self.api.get("/pipelines").json()
            failed = [p for p in pipelines if p["status"] in {"failed", "canceled", "interrupted"}]
            if failed:
                raise BenchmarkError(f"the shop's pipeline did not succeed: {failed[0]}")
            return next((p for p in pipelines if p["status"] == "success"), None)

        return wait_for("the shop's first pipeline to be green", green, timeout)

    def artifact(self) -> tuple[str, Path]:
        """The digest of the shop's newest artifact, and its archive in the store."""
        artifacts = self.api.get("/artifacts", params={"project": PROJECT, "limit": 1}).json()
        if not artifacts:
            raise BenchmarkError("the green pipeline left no artifact")
        digest = str(artifacts[0]["digest"])
        return digest, LocalArtifactStore(self.home / "artifacts").path(digest)

    def env_up(self, name: str) -> EnvUp:
        """Time ``andon env up NAME --wait`` from launch to exit; check its URL serves the
        catalog; read the steps the server recorded."""
        command = [*andon_command(), "env", "up", name, "--wait"]
        started = time.perf_counter()
        process = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
            env=self.env,
            cwd=self.repo,
            stdin=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - started
        if process.returncode != 0:
            raise BenchmarkError(
                f"andon env up {name} exited {process.returncode}: {process.stderr.strip()[-2000:]}"
            )
        url = process.stdout.strip().splitlines()[-1]
        products = httpx.get(f"{url}/products", timeout=10, trust_env=False)
        if products.status_code != 200 or not products.json().get("products"):
            raise BenchmarkError(f"{url}/products answered {products.status_code}")
        environment = self.api.get(f"/projects/{PROJECT}/environments/{name}").json()
        operation = next(
            op for op in reversed(environment["operations"] or []) if op["action"] == "up"
        )
        steps = {step["step"]: float(step["seconds"]) for step in operation["steps"]}
        titles = {step["step"]: step["title"] for step in operation["steps"]}
        return EnvUp(
            wall=wall,
            url=url,
            steps=steps,
            titles=titles,
            stderr=process.stderr,
        )

    def api_up(self, name: str, poll: float = 0.05) -> float:
        """Seconds from POSTing the environment to the API seeing its operation ready,
        asking every ``poll`` seconds: ``env up --wait`` without the CLI."""
        body = {"name": name, "artifact": None, "commit": None, "from": None, "ttl": None}
        started = time.perf_counter()
        created = self.api.post(f"/projects/{PROJECT}/environments", json=body)
        if created.status_code != 202:
            raise BenchmarkError(
                f"POST environments answered {created.status_code}: {created.text}"
            )
        wanted = created.json()["operation"]["id"]
        while True:
            found = self.api.get(f"/projects/{PROJECT}/environments/{name}").json()
            operation = next(op for op in found["operations"] if op["id"] == wanted)
            if not operation["running"]:
                break
            time.sleep(poll)
        seconds = time.perf_counter() - started
        if operation["result"] != "ready":
            raise BenchmarkError(f"environment {name} is {operation['result']}: {operation}")
        return seconds

    def time_cli(self, *args: str) -> float:
        """Seconds ``andon ARGS`` takes from launch to exit (it must succeed)."""
        started = time.perf_counter()
        self.andon(*args)
        return time.perf_counter() - started

    def env_down(self, name: str) -> None:
        self.andon("env", "down", name)

    def close(self) -> None:
        """Stop the server and agent and kill every instance; never raises."""
        state = self.home / "agent"
        with contextlib.suppress(Exception):
            self.api.close()
        with contextlib.suppress(Exception):
            self.andon("stop", check=False)
        for pid in self._pids:
            if _is_andon(pid):
                _kill_group(pid)
        _kill_instances(state)
        killed = _kill_leftovers(self.home.parent, self.home)
        if killed:
            print(f"killed {killed} process(es) Andon left running", file=sys.stderr)

    def _remember_daemons(self) -> None:
        for record in ("server.json", "agent.json"):
            with contextlib.suppress(OSError, ValueError, KeyError):
                self._pids.add(int(json.loads((self.home / record).read_text())["pid"]))


def wait_for(what: str, probe: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise BenchmarkError(f"timed out after {timeout:g} s waiting for {what}")


def _is_andon(pid: int) -> bool:
    """Whether ``pid`` is still an Andon process (not a stranger that reused the pid)."""
    try:
        return b"andon" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _kill_group(pid: int) -> None:
    """SIGKILL the process group ``pid`` leads, if it is still there."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _kill_leftovers(root: Path, home: Path) -> int:
    """SIGKILL every process this benchmark's Andon left behind, whatever the agent's
    design keeps running after it stops (instances, its environments' router workers):
    those that run under ``root`` or were given ``ANDON_HOME=home``."""
    marker = f"ANDON_HOME={home}".encode()
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd").removesuffix(" (deleted)"))
            ours = cwd == root or root in cwd.parents
            ours = ours or marker in (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if ours:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
    return killed


def _kill_instances(state: Path) -> None:
    """Instances outlive their agent by design; the benchmark's must not outlive it."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        document = json.loads((state / "agent-state.json").read_text())
        for record in document["instances"]:
            if record["pid"] and is_running(record["pid"], record["start_ticks"]):
                _kill_group(record["pid"])
