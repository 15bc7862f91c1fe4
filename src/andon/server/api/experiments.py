"""``/api/v1/projects/{project}/environments/{environment}/experiments``: an
environment's A/B experiments — each with its status in a sentence, and one's results:
per variant exposures, conversions, rate, lift against the control with its confidence
interval, p-value and probability to be best, and the sample-ratio check against the
flag's split (:mod:`andon.server.experimenting`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from andon.server.api._shared import JSONRoute
from andon.server.experimenting import experiment_results, experiment_summaries
from andon.server.flagging import FlagService

router = APIRouter(tags=["experiments"], route_class=JSONRoute)

_EXPERIMENTS = "/projects/{project}/environments/{environment}/experiments"


def _service(request: Request, project: str, environment: str) -> FlagService:
    service: FlagService = request.app.state.flags
    service.check_environment(project, environment)
    return service


@router.get(_EXPERIMENTS)
def list_experiments(project: str, environment: str, request: Request) -> dict[str, Any]:
    """The environment's experiments, each with its goal, control, exposures and status."""
    service = _service(request, project, environment)
    record = service.get(project, environment)
    return {
        "project": project,
        "environment": environment,
        "version": record.version,
        "experiments": experiment_summaries(service.store, record),
    }


@router.get(f"{_EXPERIMENTS}/{{key}}")
def show_results(
    project: str,
    environment: str,
    key: str,
    request: Request,
    confidence: float = Query(0.95, gt=0, lt=1, description="Of the intervals, e.g. 0.95."),
) -> dict[str, Any]:
    """The results of flag ``key``'s experiment."""
    service = _service(request, project, environment)
    record = service.get(project, environment)
    return experiment_results(service.store, record, key, confidence=confidence)
