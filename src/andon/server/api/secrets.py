"""``/api/v1/projects/{project}/environments/{environment}/secrets``: the secrets of an
environment, by name. Values go in (encrypted before they are stored) and never come
out: the list answers names only, and the request log holds paths, not bodies.

The environment is one andon.yaml declares on trunk, or an existing (ephemeral) one; the
name must be one of andon.yaml's ``secrets``. An ephemeral copy without a secret of its
own uses the one of the environment it copies.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from andon.environments import EnvironmentLifecycle, read_spec_at
from andon.errors import NotFoundError
from andon.server.api._shared import JSONRoute
from andon.spec import AndonSpec
from andon.spec.problems import did_you_mean
from andon.store import EnvironmentStatus

router = APIRouter(tags=["secrets"], route_class=JSONRoute)


class SecretValue(BaseModel):
    """A secret's value."""

    value: str = Field(description="The value; it is stored encrypted and never shown again.")


def _lifecycle(request: Request) -> EnvironmentLifecycle:
    return request.app.state.lifecycle  # type: ignore[no-any-return]


def _spec(lifecycle: EnvironmentLifecycle, project: str, environment: str) -> AndonSpec:
    """andon.yaml of the project as registered (trunk), once the environment is known to
    exist."""
    record = lifecycle.store.projects.get(project)
    spec = read_spec_at(lifecycle.settings, record, record.commit)
    existing = {
        env.name
        for env in lifecycle.store.environments.list(project)
        if env.status is not EnvironmentStatus.DESTROYED
    }
    known = set(spec.environments) | existing
    if environment not in known:
        raise NotFoundError(
            f"{project} has no environment {environment}{did_you_mean(environment, known)}; "
            f"andon.yaml declares {', '.join(sorted(spec.environments))}."
        )
    return spec


@router.get("/projects/{project}/environments/{environment}/secrets")
def list_secrets(project: str, environment: str, request: Request) -> dict[str, Any]:
    """The names of the environment's secrets, and those andon.yaml declares that are
    not set; never a value."""
    lifecycle = _lifecycle(request)
    spec = _spec(lifecycle, project, environment)
    vault = lifecycle.vault
    return {
        "project": project,
        "environment": environment,
        "names": vault.names(project, environment),
        "missing": vault.missing(spec, project, environment),
    }


@router.put("/projects/{project}/environments/{environment}/secrets/{name}", status_code=204)
def set_secret(
    project: str, environment: str, name: str, body: SecretValue, request: Request
) -> Response:
    """Set a secret (encrypted at rest); it reaches instances, commands and templates at
    the environment's next deploy."""
    lifecycle = _lifecycle(request)
    spec = _spec(lifecycle, project, environment)
    lifecycle.vault.set(spec, project, environment, name, body.value)
    return Response(status_code=204)


@router.delete("/projects/{project}/environments/{environment}/secrets/{name}", status_code=204)
def remove_secret(project: str, environment: str, name: str, request: Request) -> Response:
    """Forget a secret."""
    lifecycle = _lifecycle(request)
    _spec(lifecycle, project, environment)
    lifecycle.vault.remove(project, environment, name)
    return Response(status_code=204)
