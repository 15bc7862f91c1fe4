"""``andon server``, ``andon start``, ``andon stop`` and ``andon status``: the control
plane in the foreground, or in the background with this host's agent beside it."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from andon import __version__
from andon.cli import _daemon
from andon.cli._output import emit_json, say
from andon.errors import PortInUseError
from andon.settings import DEFAULT_HOST, DEFAULT_PORT, Settings

Host = Annotated[str, typer.Option("--host", help="The address to listen on.")]
Port = Annotated[int, typer.Option("--port", min=1, max=65535, help="The port to listen on.")]


def server(host: Host = DEFAULT_HOST, port: Port = DEFAULT_PORT) -> None:
    """Run the control plane in the foreground until Ctrl-C."""
    from andon.server import serve

    serve(Settings.from_env(), host, port)


def start(
    host: Host = DEFAULT_HOST,
    port: Port = DEFAULT_PORT,
    agent_port: Annotated[
        int | None,
        typer.Option(
            "--agent-port",
            min=1,
            max=65535,
            help="The agent's admin port (default: 8701, or any free port if it is taken).",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait until it is healthy.")] = 30.0,
) -> None:
    """Start the control plane and this host's agent in the background.

    Those already running are left as they are; it waits until both are healthy.
    """
    from andon.server import bind

    settings = Settings.from_env()
    record = _daemon.read_record(settings)
    if record and _daemon.is_alive(record.pid) and _daemon.health(record.url):
        say(f"Andon is already running at {record.url} (pid {record.pid}).")
        _ensure_agent(settings, agent_port, timeout)
        return
    # Fail here, in one line, rather than in a background process's log.
    bind(host, port).close()
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    process = _daemon.spawn(settings, host, port)
    _daemon.write_record(
        settings,
        _daemon.ServerRecord(
            pid=process.pid,
            url=url,
            host=host,
            port=port,
            log=str(settings.server_log),
            started_at=datetime.now(UTC).isoformat(),
        ),
    )
    agent_started = None
    try:
        # Started side by side: the agent comes up while the server opens its database.
        agent_started = _ensure_agent(settings, agent_port, timeout, quiet=True, wait=False)
        _daemon.await_healthy(process, url, settings, timeout=timeout)
        if agent_started is not None:
            agent_started = _await_agent(settings, agent_started, timeout, retry=agent_port is None)
    except BaseException:
        # Whatever this start began, it ends: a half-started control plane helps no one.
        _daemon.terminate(process.pid, grace=5)
        _daemon.forget_record(settings)
        if agent_started is not None:
            _daemon.terminate(agent_started[0].pid, grace=5)
            _daemon.forget_agent(settings)
        raise
    say(f"Andon {__version__} is running at {url} (pid {process.pid}); log: {settings.server_log}")
    agent = _daemon.read_agent(settings)
    if agent is not None:
        say(f"Its agent is running at {agent.url} (pid {agent.pid}); log: {agent.log}")


def _ensure_agent(
    settings: Settings,
    port: int | None,
    timeout: float,
    *,
    quiet: bool = False,
    wait: bool = True,
) -> tuple[subprocess.Popen[bytes], _daemon.AgentRecord] | None:
    """Start the agent unless the recorded one answers; the process started, if any."""
    recorded = _daemon.read_agent(settings)
    if recorded and _daemon.is_alive(recorded.pid) and _daemon.agent_health(recorded):
        if not quiet:
            say(f"Its agent is running at {recorded.url} (pid {recorded.pid}).")
        return None
    admin_port = _daemon.agent_port(port)
    process = _daemon.spawn_agent(settings, admin_port)
    record = _daemon.AgentRecord(
        pid=process.pid,
        url=f"http://127.0.0.1:{admin_port}",
        state=str(settings.agent_dir),
        log=str(settings.agent_log),
        started_at=datetime.now(UTC).isoformat(),
    )
    _daemon.write_agent(settings, record)
    started = (process, record)
    if wait:
        started = _await_agent(settings, started, timeout, retry=port is None)
        process, record = started
        if not quiet:
            say(f"Its agent is running at {record.url} (pid {process.pid}); log: {record.log}")
    return started


def _await_agent(
    settings: Settings,
    started: tuple[subprocess.Popen[bytes], _daemon.AgentRecord],
    timeout: float,
    *,
    retry: bool,
) -> tuple[subprocess.Popen[bytes], _daemon.AgentRecord]:
    """Wait until the agent started answers; the agent that did. With ``retry``, an agent
    whose port was taken from under it starts again once on a free port."""
    process, record = started
    try:
        _daemon.await_agent(process, record, settings, timeout=timeout)
    except PortInUseError:
        _daemon.forget_agent(settings)
        if not retry:
            raise
        port = _daemon.free_port()
        process = _daemon.spawn_agent(settings, port)
        record = replace(record, pid=process.pid, url=f"http://127.0.0.1:{port}")
        _daemon.write_agent(settings, record)
        return _await_agent(settings, (process, record), timeout, retry=False)
    except BaseException:
        _daemon.terminate(process.pid, grace=5)
        _daemon.forget_agent(settings)
        raise
    return process, record


def stop() -> None:
    """Stop the control plane and the agent that 'andon start' started.

    The agent's instances keep running; the next start adopts them.
    """
    settings = Settings.from_env()
    record = _daemon.read_record(settings)
    agent = _daemon.read_agent(settings)
    if record is None and agent is None:
        say("Andon is not running; there is nothing to stop.")
        return
    if record is not None:
        stopped = _daemon.terminate(record.pid)
        _daemon.forget_record(settings)
        say(f"Stopped Andon (pid {record.pid})." if stopped else "Andon was not running.")
    if agent is not None:
        document = _daemon.agent_health(agent)
        running = int(document.get("instances", 0)) if document else 0
        stopped = _daemon.terminate(agent.pid)
        _daemon.forget_agent(settings)
        if stopped:
            kept = (
                f"; its {running} instance(s) keep running and the next start adopts them"
                if running
                else ""
            )
            say(f"Stopped its agent (pid {agent.pid}){kept}.")


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show whether the control plane and its agent run; exit 1 when either does not."""
    settings = Settings.from_env()
    record = _daemon.read_record(settings)
    alive = bool(record and _daemon.is_alive(record.pid))
    document = _daemon.health(record.url) if record and alive else None
    agent = _daemon.read_agent(settings)
    agent_alive = bool(agent and _daemon.is_alive(agent.pid))
    agent_document = _daemon.agent_health(agent) if agent and agent_alive else None
    report = {
        "running": document is not None,
        "pid": record.pid if record and alive else None,
        "url": record.url if record else None,
        "started_at": record.started_at if record and alive else None,
        "log": str(settings.server_log),
        "home": str(settings.home),
        "version": document.get("version") if document else None,
        "database": document.get("database") if document else None,
        "uptime_seconds": document.get("uptime_seconds") if document else None,
        "agent": {
            "running": agent_document is not None,
            "pid": agent.pid if agent and agent_alive else None,
            "url": agent.url if agent else None,
            "log": str(settings.agent_log),
            "environments": agent_document.get("environments") if agent_document else None,
            "instances": agent_document.get("instances") if agent_document else None,
        },
    }
    if as_json:
        emit_json(report)
    elif document is not None and record is not None:
        say(
            f"Andon {report['version']} is running at {record.url} (pid {record.pid}, "
            f"up {report['uptime_seconds']:.0f}s, database {report['database']})."
        )
    elif record and alive:
        say(
            f"Andon (pid {record.pid}) is running but does not answer at {record.url}; "
            f"see {settings.server_log}."
        )
    else:
        say("Andon is not running; 'andon start' starts it.")
    if not as_json:
        say(_agent_line(agent, agent_alive, agent_document, settings))
    if document is None or agent_document is None:
        raise typer.Exit(1)


def _agent_line(
    agent: _daemon.AgentRecord | None,
    alive: bool,
    document: dict[str, Any] | None,
    settings: Settings,
) -> str:
    if agent is not None and document is not None:
        return (
            f"Its agent is running at {agent.url} (pid {agent.pid}, "
            f"{document.get('environments', 0)} environment(s), "
            f"{document.get('instances', 0)} instance(s))."
        )
    if agent is not None and alive:
        return f"Its agent (pid {agent.pid}) does not answer at {agent.url}; see {agent.log}."
    return f"Its agent is not running; 'andon start' starts it (log: {settings.agent_log})."
