"""``andon server``, ``andon start``, ``andon stop`` and ``andon status``: the control
plane in the foreground or in the background."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from andon import __version__
from andon.cli import _daemon
from andon.cli._output import emit_json, say
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
    timeout: Annotated[float, typer.Option(help="Seconds to wait until it is healthy.")] = 30.0,
) -> None:
    """Start the control plane in the background (if it is not running) and wait until
    it is healthy."""
    from andon.server import bind

    settings = Settings.from_env()
    record = _daemon.read_record(settings)
    if record and _daemon.is_alive(record.pid) and _daemon.health(record.url):
        say(f"Andon is already running at {record.url} (pid {record.pid}).")
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
    try:
        _daemon.await_healthy(process, url, settings, timeout=timeout)
    except BaseException:
        _daemon.terminate(process.pid, grace=5)
        _daemon.forget_record(settings)
        raise
    say(f"Andon {__version__} is running at {url} (pid {process.pid}); log: {settings.server_log}")


def stop() -> None:
    """Stop the control plane that 'andon start' started."""
    settings = Settings.from_env()
    record = _daemon.read_record(settings)
    if record is None:
        say("Andon is not running; there is nothing to stop.")
        return
    stopped = _daemon.terminate(record.pid)
    _daemon.forget_record(settings)
    say(f"Stopped Andon (pid {record.pid})." if stopped else "Andon was not running.")


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show whether the control plane runs, where, and its health. Exits 1 when it does not."""
    settings = Settings.from_env()
    record = _daemon.read_record(settings)
    alive = bool(record and _daemon.is_alive(record.pid))
    document = _daemon.health(record.url) if record and alive else None
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
    if document is None:
        raise typer.Exit(1)
