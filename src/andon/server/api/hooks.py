"""``/api/v1/hooks``: being told about new commits. ``git`` takes GitHub and GitLab push
events (verified by HMAC signature or secret token); ``local`` is what the hooks written by
``andon hooks install`` call on this machine."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from andon.errors import AndonError, ConfigurationError, UsageError
from andon.repos import GitRepository
from andon.server.access import default_access
from andon.server.api._shared import JSONRoute
from andon.server.scheduling import PipelineScheduler
from andon.server.signing import signature_matches, token_matches
from andon.settings import Settings
from andon.store import ProjectRecord, Store

router = APIRouter(tags=["hooks"], route_class=JSONRoute)

_ZERO = re.compile(r"^0+$")

# The body is read by hand (its signature covers its exact bytes), so it is described here
# with the headers that say whose event it is.
_PUSH_EVENT = {
    "parameters": [
        {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
        for name in ("X-GitHub-Event", "X-Hub-Signature-256", "X-Gitlab-Event", "X-Gitlab-Token")
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "description": "A GitHub or GitLab push event."}
            }
        },
    },
}


class LocalPush(BaseModel):
    """A commit made in a local repository."""

    source: str
    ref: str | None = None
    commit: str | None = None


class HookRefusedError(AndonError):
    """An incoming webhook that is not signed as it should be."""

    http_status = 401
    code = "unauthorized"


def normalize_url(url: str) -> str:
    """A repository URL in a form that compares equal across https/ssh spellings."""
    text = url.strip().lower().removesuffix("/").removesuffix(".git")
    text = re.sub(r"^[a-z+]+://", "", text)
    text = re.sub(r"^[^@/]+@", "", text)
    return text.replace(":", "/")


def _candidate_urls(payload: dict[str, Any]) -> set[str]:
    urls: set[str] = set()
    for section in ("repository", "project"):
        block = payload.get(section)
        if not isinstance(block, dict):
            continue
        for key in (
            "clone_url",
            "ssh_url",
            "git_url",
            "html_url",
            "url",
            "svn_url",
            "git_http_url",
            "git_ssh_url",
            "web_url",
            "homepage",
        ):
            value = block.get(key)
            if isinstance(value, str) and value:
                urls.add(normalize_url(value))
    return urls


def _verify(request: Request, body: bytes, settings: Settings) -> str:
    """The provider of a correctly signed push event; refuses anything else."""
    secret = settings.webhook_secret
    if not secret:
        raise ConfigurationError(
            "incoming webhooks are off; set ANDON_WEBHOOK_SECRET on the server to the secret "
            "configured in GitHub or GitLab."
        )
    headers = request.headers
    if "x-github-event" in headers:
        if not signature_matches(secret, body, headers.get("x-hub-signature-256")):
            raise HookRefusedError(
                "the X-Hub-Signature-256 signature does not match this body; "
                "check the webhook's secret."
            )
        return "github"
    if "x-gitlab-event" in headers:
        if not token_matches(secret, headers.get("x-gitlab-token")):
            raise HookRefusedError(
                "the X-Gitlab-Token does not match; check the webhook's secret token."
            )
        return "gitlab"
    raise UsageError(
        "not a GitHub or GitLab push event (no X-GitHub-Event or X-Gitlab-Event header)."
    )


@router.post("/hooks/git", status_code=202, openapi_extra=_PUSH_EVENT)
async def git_push(request: Request) -> Any:
    """A push event from GitHub or GitLab: queue a pipeline for the pushed commit of every
    project whose repository it names. Branches other than trunk run but never deploy."""
    settings: Settings = request.app.state.settings
    body = await request.body()
    provider = _verify(request, body, settings)
    event = request.headers.get("x-github-event") or request.headers.get("x-gitlab-event")
    if event in {"ping", "System Hook"}:
        return {"provider": provider, "event": event, "queued": []}
    if event not in {"push", "Push Hook"}:
        return JSONResponse(
            {
                "provider": provider,
                "event": event,
                "queued": [],
                "ignored": "only push events start pipelines",
            },
            status_code=202,
        )
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise UsageError("the push event's body is not JSON.") from exc
    if not isinstance(payload, dict):
        raise UsageError("the push event's body is not a JSON object.")
    ref = str(payload.get("ref", ""))
    commit = str(payload.get("checkout_sha") or payload.get("after") or "")
    if not ref.startswith("refs/heads/") or not commit or _ZERO.match(commit):
        return {"provider": provider, "queued": [], "ignored": "not a pushed branch commit"}
    branch = ref.removeprefix("refs/heads/")
    urls = _candidate_urls(payload)
    store: Store = request.app.state.store
    matching = [p for p in store.projects.list() if normalize_url(p.source) in urls]
    queued = []
    for project in matching:
        pipeline = await asyncio.to_thread(_queue, request, project, commit, branch, "hook")
        if pipeline is not None:
            queued.append(pipeline)
    return {"provider": provider, "queued": queued, "projects": [p.name for p in matching]}


@router.post("/hooks/local", status_code=202, dependencies=[Depends(default_access)])
def local_push(body: LocalPush, request: Request) -> dict[str, Any]:
    """A commit in a local repository (from the hooks of ``andon hooks install``)."""
    store: Store = request.app.state.store
    matching = [p for p in store.projects.list() if p.source == body.source]
    queued = []
    commit = body.commit or ""
    branch = (body.ref or "").removeprefix("refs/heads/")
    # A post-receive hook reports every ref a push moved: tags and other refs are not
    # branches, and a deleted branch's new commit is all zeros. Neither has a build.
    if branch.startswith("refs/") or not commit or _ZERO.match(commit):
        branch = ""
    for project in matching:
        # Trunk is watched by the poller; other branches are queued here, as a push would.
        if branch and branch != project.trunk:
            pipeline = _queue(request, project, commit, branch, "hook")
            if pipeline is not None:
                queued.append(pipeline)
    scheduler: PipelineScheduler = request.app.state.scheduler
    scheduler.wake()
    return {"projects": [p.name for p in matching], "queued": queued}


def _queue(
    request: Request, project: ProjectRecord, commit: str, branch: str, trigger: str
) -> int | None:
    settings: Settings = request.app.state.settings
    scheduler: PipelineScheduler = request.app.state.scheduler
    store: Store = request.app.state.store
    repo = GitRepository.open(project.source, mirrors=settings.repos_dir, name=project.name)
    repo.resolve(commit)
    on_trunk = branch == project.trunk
    if commit in store.pipelines.known_commits(project.name, on_trunk=on_trunk):
        return None
    return scheduler.queue(project, commit, branch=branch, trigger=trigger).id
