"""Running the agent process: claim the state directory, make sure there is a token,
bind the admin port, and serve the admin API (which starts the agent) until SIGINT or
SIGTERM. Stopping the agent leaves its instances running; the next agent re-adopts them.

``andon agent`` calls :func:`serve_agent`; :func:`spawn_agent` starts it in the background
(``andon start`` and the tests).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import secrets
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

import uvicorn

from andon.agent._agent import Agent
from andon.agent.admin import create_admin_app
from andon.agent.data_plane import DataPlane
from andon.agent.policy import SupervisorPolicy
from andon.agent.router import RouterDataPlane
from andon.errors import ConfigurationError, ConflictError, PortInUseError, UsageError

DEFAULT_ADMIN_PORT = 8701
TOKEN_FILE_NAME = "agent-token"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LOCK_FILE_NAME = "agent.lock"


def ensure_token(state_dir: Path) -> str:
    """The sha256 (hex) of the agent's token, generating the token file (mode 0600) at
    the first start. The token itself is not kept in memory."""
    path = state_dir / TOKEN_FILE_NAME
    if not path.exists():
        # Written whole, then linked into place: a client never reads half a token, and
        # of two agents starting at once only one token wins.
        fd, partial = tempfile.mkstemp(prefix=f".{TOKEN_FILE_NAME}.", dir=state_dir)
        try:
            with os.fdopen(fd, "w") as token_file:
                token_file.write(secrets.token_urlsafe(32) + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(partial, path)
        finally:
            os.unlink(partial)
    if path.stat().st_mode & 0o077:
        # Anyone who can read the token can run commands on this host through the agent.
        path.chmod(0o600)
    return hashlib.sha256(read_token(state_dir).encode()).hexdigest()


def read_token(state_dir: Path) -> str:
    """The agent's token, for its clients."""
    path = state_dir / TOKEN_FILE_NAME
    try:
        token = path.read_text("utf-8").strip()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the agent's token {path}: {exc.strerror}; start the agent "
            "('andon agent') to create it."
        ) from exc
    if not token:
        raise ConfigurationError(f"the agent's token file {path} is empty; delete it and restart.")
    return token


def serve_agent(
    state_dir: Path,
    *,
    admin_port: int = DEFAULT_ADMIN_PORT,
    host: str = "127.0.0.1",
    policy: SupervisorPolicy | None = None,
    data_plane: DataPlane | None = None,
    router_workers: int = 1,
) -> None:
    """Run the agent in the foreground until SIGINT or SIGTERM.

    Each environment's router runs as ``router_workers`` detached processes that outlive
    the agent (see :class:`~andon.agent.router.RouterDataPlane`)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    # Health checks go through httpx, which would log a line for each.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    state_dir = state_dir.absolute()
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = _claim(state_dir)
    try:
        token_sha256 = ensure_token(state_dir)
        # The built-in router is the data plane unless the caller brings another (tests);
        # it listens where the admin API does, on this host only unless told otherwise.
        if data_plane is None:
            data_plane = RouterDataPlane(host, workers=router_workers, state_dir=state_dir)
        agent = Agent(state_dir, policy=policy, data_plane=data_plane)
        # An unreadable state file stops the start here, in one line, not inside the server.
        agent.state_file.load()
        sock = _bind(host, admin_port)
        app = create_admin_app(agent, token_sha256)
        config = uvicorn.Config(
            app, log_level="info", access_log=False, server_header=False, log_config=None
        )
        logging.getLogger("andon.agent").info(
            "Andon agent listening on http://%s:%d (state: %s)",
            host,
            sock.getsockname()[1],
            state_dir,
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        lock.close()


def spawn_agent(
    state_dir: Path,
    *,
    admin_port: int = DEFAULT_ADMIN_PORT,
    log: Path,
    drain_seconds: float | None = None,
    backoff: float | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``andon agent`` in the background, detached, its output appended to ``log``.

    ``drain_seconds`` and ``backoff`` are the agent's options of those names.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "andon", "agent"]
    command += ["--admin-port", str(admin_port), "--state", str(state_dir)]
    if drain_seconds is not None:
        command += ["--drain-seconds", f"{drain_seconds:g}"]
    if backoff is not None:
        command += ["--backoff", f"{backoff:g}"]
    with open(log, "ab") as output:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
        )


def _claim(state_dir: Path) -> IO[bytes]:
    """Hold the state directory's lock for as long as this process lives: two agents on
    one state would both restart the same instances."""
    lock = open(state_dir / _LOCK_FILE_NAME, "a+b")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        lock.close()
        raise ConflictError(
            f"another agent is running with the state directory {state_dir}; stop it, or "
            "give this one another --state."
        ) from exc
    return lock


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or a one-line error naming the port."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"port {port} on {host} is already in use; stop what uses it or choose "
                "another with --admin-port."
            ) from exc
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}.") from exc
    return sock
