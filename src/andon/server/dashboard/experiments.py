"""``/experiments``: the A/B experiments of every environment with their status in a
sentence, and one experiment's results — per variant exposures, conversions and rate
(drawn), lift against the control with its interval, p-value, probability to be best,
and the sample-ratio check (:mod:`andon.server.experimenting`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from andon.server.dashboard import svg
from andon.server.dashboard._web import Viewer, page, signed_in, store_of
from andon.server.experimenting import experiment_results, experiment_summaries
from andon.server.flagging import FlagService
from andon.store import EnvironmentStatus, Role

router = APIRouter(include_in_schema=False)


def _service(request: Request) -> FlagService:
    return request.app.state.flags  # type: ignore[no-any-return]


def experiments_index(request: Request, viewer: Viewer) -> dict[str, Any]:
    """Every experiment of the environments the viewer may see."""
    store, service = store_of(request), _service(request)
    found = []
    for project in viewer.projects(store):
        for record in store.environments.list(project.name):
            if record.status is EnvironmentStatus.DESTROYED:
                continue
            flag_set = service.get(project.name, record.name)
            for summary in experiment_summaries(store, flag_set):
                found.append({"project": project.name, "environment": record.name, **summary})
    return {"experiments": found}


def experiment_detail(
    request: Request, viewer: Viewer, *, project: str, environment: str, key: str, confidence: float
) -> dict[str, Any]:
    """One experiment's results, with its chart."""
    viewer.check(project, Role.VIEWER, "see this experiment")
    service = _service(request)
    service.check_environment(project, environment)
    results = experiment_results(
        service.store, service.get(project, environment), key, confidence=confidence
    )
    return {
        "results": results,
        "chart": svg.variant_chart(results["variants"], results["control"]),
    }


@router.get("/experiments", response_class=HTMLResponse)
def index(request: Request, viewer: Annotated[Viewer, Depends(signed_in)]) -> HTMLResponse:
    """Every experiment and its status."""
    return page(request, viewer, "experiments.html", lambda: experiments_index(request, viewer))


@router.get(
    "/projects/{project}/environments/{environment}/experiments/{key}",
    response_class=HTMLResponse,
)
def experiment(
    request: Request,
    *,
    project: str,
    environment: str,
    key: str,
    viewer: Annotated[Viewer, Depends(signed_in)],
    confidence: float = Query(0.95, gt=0, lt=1),
) -> HTMLResponse:
    """One experiment's results."""
    return page(
        request,
        viewer,
        "experiment.html",
        lambda: experiment_detail(
            request,
            viewer,
            project=project,
            environment=environment,
            key=key,
            confidence=confidence,
        ),
    )
