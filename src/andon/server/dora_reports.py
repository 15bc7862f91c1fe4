"""DORA's five metrics of an environment of a project, or of every project, as the API, the
CLI, the dashboard and the demo show them (:func:`dora_report`), and of every environment
deployed to, for ``/metrics`` (:func:`dora_reports`).

The engine (:mod:`andon.dora`) needs the whole event history of an environment: whether a
deployment failed depends on the one after it, and a commit's lead time on whether an
earlier deployment brought it already.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from andon.dora import assess_deployments, assess_dora
from andon.store import Store


def dora_report(
    store: Store, *, project: str | None, environment: str, since: datetime, now: datetime
) -> dict[str, Any]:
    """The report of ``environment`` of ``project`` (None: of every project together) over
    ``since``..``now`` and the period of equal length before, as JSON-able values.

    NotFoundError when the project is not registered.
    """
    if project is not None:
        store.projects.get(project)
    events = store.deploy_events.list(project, environment)
    report = assess_dora(
        assess_deployments(events, now),
        project=project,
        environment=environment,
        since=since,
        until=now,
    )
    return report.to_dict()


def dora_reports(store: Store, *, since: datetime, now: datetime) -> list[dict[str, Any]]:
    """The report of each environment of each project that has had a deployment, by
    project then environment."""
    deployments = assess_deployments(store.deploy_events.list(), now)
    places = sorted({(d.project, d.environment) for d in deployments})
    return [
        assess_dora(
            deployments, project=project, environment=environment, since=since, until=now
        ).to_dict()
        for project, environment in places
    ]
