"""A private Andon for the demo: a temporary ANDON_HOME, free ports, the server and its
agent started by ``andon start`` as a person starts them, and at the end everything they
started stopped — the agent's instances and routers too, which outlive it by design.

The user's own ANDON_HOME and running Andon are never touched: every process the demo
starts gets this home and URL, and none of the user's other ``ANDON_*`` settings.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from andon.agent import kill_agent_leftovers
from andon.demo.failures import DemoError
from andon.settings import Settings

POLL_INTERVAL_S = "0.2"
"""How often the private server looks at trunk: a commit starts its pipeline at once."""


def check_prerequisites() -> None:
    """DemoError, before anything starts, when this machine lacks what the demo needs: git,
    and pytest and hypothesis for the shop's tests (its pipelines run this Python)."""
    if shutil.which("git") is None:
        raise DemoError("the demo needs git, which is not on PATH; install git and rerun.")
    missing = [name for name in ("pytest", "hypothesis") if importlib.util.find_spec(name) is None]
    if missing:
        raise DemoError(
            f"the example shop's tests need {' and '.join(missing)}, which {sys.executable} "
            "does not have; install them with: pip install -e '.[test]'"
        )


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateAndon:
    """A server and agent of the demo's own in ``home``."""

    def __init__(self, home: Path, port: int, agent_port: int) -> None:
        self.home = home
        self.port = port
        self.agent_port = agent_port
        self.url = f"http://127.0.0.1:{port}"
        self.settings = Settings.from_env({"ANDON_HOME": str(home)})
        kept = {k: v for k, v in os.environ.items() if not k.startswith("ANDON_")}
        # The pipelines' `python` is this one (a virtual environment need not be active).
        here = str(Path(sys.executable).parent)
        self.env = {
            **kept,
            "PATH": os.pathsep.join([here, kept.get("PATH", os.defpath)]),
            "ANDON_HOME": str(home),
            "ANDON_URL": self.url,
            "ANDON_POLL_INTERVAL": POLL_INTERVAL_S,
        }

    @classmethod
    def create(cls) -> PrivateAndon:
        """A new temporary home and two free ports (nothing started yet)."""
        home = Path(tempfile.mkdtemp(prefix="andon-demo-")).resolve()
        return cls(home, free_port(), free_port())

    def andon(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``andon ARGS`` against this Andon; DemoError with its error line on failure."""
        try:
            done = subprocess.run(
                [sys.executable, "-m", "andon", *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env=self.env,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise DemoError(f"'andon {args[0]}' did not finish within {timeout:.0f}s") from exc
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            reason = said[-1].removeprefix("error: ") if said else f"exit {done.returncode}"
            raise DemoError(f"'andon {' '.join(args)}' failed: {reason}")
        return done

    def start(self) -> str:
        """``andon start`` on this Andon's ports; the admin token its first start wrote."""
        self.andon("start", "--port", str(self.port), "--agent-port", str(self.agent_port))
        try:
            return self.settings.token_file.read_text("utf-8").strip()
        except OSError as exc:
            raise DemoError(f"the server wrote no token to {self.settings.token_file}") from exc

    def stop(self) -> None:
        """``andon stop``, then what the agent leaves running by design: its instances and
        its environments' routers. Never raises: it runs on the way out of a failure."""
        with contextlib.suppress(DemoError):
            self.andon("stop", timeout=60)
        kill_agent_leftovers(self.settings.agent_dir)
        _kill_strays(self.home)

    def remove(self) -> None:
        """Remove the home and all in it."""
        shutil.rmtree(self.home, ignore_errors=True)


def _kill_strays(home: Path) -> None:
    """SIGKILL what still runs for ``home``: a pipeline's job the server had started when it
    was stopped (its working directory is a workspace there), or a server or agent that an
    interrupted ``andon start`` spawned before it could record it (its ANDON_HOME)."""
    marker = b"ANDON_HOME=" + bytes(home)
    for process in Path("/proc").iterdir():
        if not process.name.isdigit() or int(process.name) == os.getpid():
            continue
        try:
            cwd = Path(os.readlink(process / "cwd"))
            environment = (process / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if cwd == home or home in cwd.parents or marker in environment:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(process.name), signal.SIGKILL)
