"""``/api/v1/dora`` and ``/api/v1/projects/{project}/dora``: DORA's five metrics of an
environment's deployments (frequency, change lead time, change fail rate, failed
deployment recovery time, rework rate) over a window, with their levels and trends, and
the deployments counted. ``andon dora`` and the dashboard read them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request

from andon.errors import NotFoundError
from andon.server.api._shared import JSONRoute
from andon.server.api.flow import window_start
from andon.server.dora_reports import dora_report
from andon.store import Store

router = APIRouter(tags=["dora"], route_class=JSONRoute)

DEFAULT_ENVIRONMENT = "prod"
DEFAULT_SINCE = "30d"

_ENVIRONMENT = Query(
    default=DEFAULT_ENVIRONMENT,
    min_length=1,
    max_length=63,
    description="The environment whose deployments count (production, by DORA's metrics).",
)
_SINCE = Query(
    default=DEFAULT_SINCE,
    description="Where the window begins: a duration back (30d, 12h, 90m) or an ISO time; "
    "the trend compares with the window of equal length before it.",
)


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


@router.get("/projects/{project}/dora")
def get_project_dora(
    project: str, request: Request, environment: str = _ENVIRONMENT, since: str = _SINCE
) -> dict[str, Any]:
    """DORA's metrics of the project's deployments to the environment over the window:
    each metric's value, DORA performance level, previous window's value and trend, and
    the deployments counted with their outcome, why, rework and time to restore."""
    now = datetime.now(UTC)
    store = _store(request)
    _check_environment(store, project, environment)
    return dora_report(
        store,
        project=project,
        environment=environment,
        since=window_start(since, now),
        now=now,
    )


@router.get("/dora")
def get_dora(
    request: Request, environment: str = _ENVIRONMENT, since: str = _SINCE
) -> dict[str, Any]:
    """DORA's metrics of every project's deployments to environments of that name, counted
    together (``project`` is null); as ``/projects/{project}/dora`` otherwise."""
    now = datetime.now(UTC)
    return dora_report(
        _store(request),
        project=None,
        environment=environment,
        since=window_start(since, now),
        now=now,
    )


def _check_environment(store: Store, project: str, environment: str) -> None:
    """NotFoundError naming the project's environments when it has none called
    ``environment`` and never deployed to one: a misspelt name would otherwise answer
    "no data", which reads as true."""
    declared = store.projects.get(project).spec.get("environments")
    names = set(declared) if isinstance(declared, dict) else set()
    names |= {record.name for record in store.environments.list(project)}
    if not names or environment in names or store.deploy_events.list(project, environment):
        return
    raise NotFoundError(
        f"project {project} has no environment {environment}; its environments are "
        f"{', '.join(sorted(names))}: give one of them."
    )
