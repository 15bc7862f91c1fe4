"""``andon agent``: the node agent in the foreground — it supervises this host's service
instances and each environment's router, and serves its admin API on 127.0.0.1 until
Ctrl-C. Stopping it leaves the instances and routers running; the next start takes them up."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from andon.settings import Settings


def agent(
    admin_port: Annotated[
        int | None,
        typer.Option(
            "--admin-port", min=1, max=65535, help="The admin API's port (default: 8701)."
        ),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option("--state", help="The agent's state directory (default: ANDON_HOME/agent)."),
    ] = None,
    drain_seconds: Annotated[
        float,
        typer.Option(
            "--drain-seconds",
            min=0,
            help="How long a stopping instance, out of routing, finishes its requests "
            "before SIGTERM.",
        ),
    ] = 2.0,
    backoff: Annotated[
        float,
        typer.Option(
            "--backoff",
            min=0.01,
            help="Seconds before a crashed instance is first restarted; the wait doubles "
            "with each crash in a row, up to 30 seconds (or this, if longer).",
        ),
    ] = 0.5,
    router_workers: Annotated[
        int,
        typer.Option(
            "--router-workers",
            min=1,
            max=64,
            help="Router processes per environment, sharing its port (SO_REUSEPORT).",
        ),
    ] = 1,
) -> None:
    """Run the node agent in the foreground until Ctrl-C."""
    from andon.agent import SupervisorPolicy, serve_agent
    from andon.agent.running import DEFAULT_ADMIN_PORT

    defaults = SupervisorPolicy()
    serve_agent(
        state or Settings.from_env().home / "agent",
        admin_port=admin_port or DEFAULT_ADMIN_PORT,
        policy=SupervisorPolicy(
            drain_seconds=drain_seconds,
            backoff_base=backoff,
            backoff_cap=max(defaults.backoff_cap, backoff),
        ),
        router_workers=router_workers,
    )
