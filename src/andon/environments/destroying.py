"""Destroying an environment, step by step: stop its instances and its router through the
runtime, drop its database, remove its directory (releases, data, logs). Each step is
safe to repeat, so a removal that failed half-way is finished by trying again.

:meth:`~andon.environments.EnvironmentLifecycle.down` calls :func:`destroy_environment`
and records the outcome.
"""

from __future__ import annotations

import asyncio
import shutil

from andon.environments.databases import DatabaseInfo, drop_database, environment_dir
from andon.environments.declaring import agent_environment
from andon.environments.steps import StepRunner
from andon.errors import NotFoundError
from andon.runtimes import Runtime
from andon.settings import Settings


async def destroy_environment(
    project: str,
    name: str,
    *,
    runtime: Runtime,
    database: DatabaseInfo | None,
    settings: Settings,
    steps: StepRunner,
) -> None:
    """Stop, drop, remove; an Andon error from the step that failed."""

    async def stop() -> str:
        try:
            await runtime.remove_environment(agent_environment(project, name))
        except NotFoundError:
            return "no instances were running"
        return "stopped its instances and its router"

    async def drop() -> str:
        if database is None:
            return "it has no database"
        await asyncio.to_thread(drop_database, database, settings)
        return f"dropped {database.redacted_url}"

    async def clean() -> str:
        directory = environment_dir(settings, project, name)
        await asyncio.to_thread(shutil.rmtree, directory, True)
        return f"removed {directory}"

    await steps.run("stop", "stop its instances", stop)
    await steps.run("drop", "drop its database", drop)
    await steps.run("clean", "remove its files", clean)
