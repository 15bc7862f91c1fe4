"""The agent's admin API: a small FastAPI app served on 127.0.0.1, every route behind
``Authorization: Bearer <token>`` (the token in ``STATE_DIR/agent-token``; the agent holds
only its sha256). Errors answer as the server's do, ``{"error": {"code", "message"}}``.
The local runtime (``andon.runtimes.local``) is its client; ``andon agent`` serves it.

::

    GET    /v1/health
    GET    /v1/metrics                                  Prometheus text (agent and routers)
    GET    /v1/environments
    PUT    /v1/environments/{environment}               create (201) or update (200)
    GET    /v1/environments/{environment}
    DELETE /v1/environments/{environment}               stops its instances first
    PUT    /v1/environments/{environment}/routing
    GET    /v1/environments/{environment}/traffic       the router's counters per version
    GET    /v1/environments/{environment}/instances
    POST   /v1/environments/{environment}/instances     start one (201)
    GET    /v1/instances/{instance}
    DELETE /v1/instances/{instance}                     drain, stop, forget
    GET    /v1/instances/{instance}/logs?tail=N         text
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException

from andon import __version__
from andon.agent._agent import Agent
from andon.agent.instances import NAME_PATTERN, InstancePhase, InstanceSpec
from andon.agent.state import EnvironmentState
from andon.api_errors import install_error_handlers
from andon.errors import NotFoundError

error_log = logging.getLogger("andon.agent")

Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class EnvironmentBody(BaseModel):
    """An environment's settings."""

    model_config = ConfigDict(extra="forbid")

    listen_port: int | None = Field(default=None, ge=1, le=65535)
    """The port its router listens on; none for an environment without a router."""
    routing: dict[str, Any] = {}
    """The router's configuration."""


class RoutingBody(BaseModel):
    """A new routing configuration for an environment."""

    model_config = ConfigDict(extra="forbid")

    routing: dict[str, Any]


class InstanceBody(BaseModel):
    """An instance to start."""

    model_config = ConfigDict(extra="forbid")

    id: Name | None = None
    """Its id; the agent makes one up (``<environment>-<process>-<random>``) when unset."""
    version: str = Field(min_length=1)
    process: Name
    command: str = Field(min_length=1)
    cwd: str
    """The absolute path of the unpacked release to run from."""
    env: dict[str, str] = {}
    health_path: str | None = Field(default=None, pattern=r"^/")
    stop_timeout: float = Field(default=10.0, gt=0, le=3600)
    port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("cwd")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not Path(value).is_absolute():
            raise ValueError("must be an absolute path")
        return value


def create_admin_app(agent: Agent, token_sha256: str) -> FastAPI:
    """The admin API of ``agent``; it starts the agent when served and closes it after.

    Requests must carry the token whose sha256 (hex) is ``token_sha256``.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await agent.start()
        try:
            yield
        finally:
            await agent.close()

    def require_token(request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        digest = hashlib.sha256(token.strip().encode()).hexdigest()
        if scheme.lower() != "bearer" or not hmac.compare_digest(digest, token_sha256):
            raise HTTPException(
                401,
                detail=(
                    "a valid agent token is required: send 'Authorization: Bearer <token>' "
                    "with the token in the agent's state directory (agent-token)."
                ),
                headers={"WWW-Authenticate": "Bearer"},
            )

    app = FastAPI(
        title="Andon agent",
        version=__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(require_token)],
    )
    app.state.agent = agent
    app.include_router(_routes(agent), prefix="/v1")
    install_error_handlers(
        app,
        who="agent",
        unknown_route="there is no such route on the agent's admin API (routes are under /v1).",
        log=error_log,
    )
    return app


def _routes(agent: Agent) -> APIRouter:
    router = APIRouter()

    @router.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "uptime_seconds": round(agent.uptime(), 3),
            "environments": len(agent.environments()),
            "instances": len(agent.all_instances()),
        }

    @router.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        text = render_metrics(agent) + await agent.data_plane.render_prometheus()
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    @router.get("/environments")
    async def list_environments() -> dict[str, Any]:
        return {"environments": [_environment(agent, e) for e in agent.environments()]}

    @router.put("/environments/{environment}")
    async def put_environment(
        environment: str, body: EnvironmentBody, response: Response
    ) -> dict[str, Any]:
        state, created = await agent.ensure_environment(
            environment, listen_port=body.listen_port, routing=body.routing
        )
        response.status_code = 201 if created else 200
        return _environment(agent, state)

    @router.get("/environments/{environment}")
    async def get_environment(environment: str) -> dict[str, Any]:
        return _environment(agent, agent.environment(environment))

    @router.get("/environments/{environment}/traffic")
    async def get_traffic(environment: str) -> dict[str, Any]:
        """What the environment's router counted per version since it started."""
        agent.environment(environment)
        snapshot = await agent.data_plane.snapshot(environment)
        if snapshot is None:
            raise NotFoundError(
                f"environment {environment!r} has no router on this agent; give it a "
                "listen port to route it."
            )
        return snapshot

    @router.delete("/environments/{environment}")
    async def delete_environment(environment: str) -> dict[str, Any]:
        stopped = await agent.remove_environment(environment)
        return {"name": environment, "stopped": [status.to_dict() for status in stopped]}

    @router.put("/environments/{environment}/routing")
    async def put_routing(environment: str, body: RoutingBody) -> dict[str, Any]:
        return _environment(agent, await agent.set_routing(environment, body.routing))

    @router.get("/environments/{environment}/instances")
    async def list_instances(environment: str) -> dict[str, Any]:
        return {"instances": [status.to_dict() for status in agent.instances(environment)]}

    @router.post("/environments/{environment}/instances", status_code=201)
    async def start_instance(environment: str, body: InstanceBody) -> dict[str, Any]:
        spec = InstanceSpec(
            environment=environment,
            version=body.version,
            process=body.process,
            command=body.command,
            cwd=Path(body.cwd),
            env=body.env,
            health_path=body.health_path,
            stop_timeout=body.stop_timeout,
            port=body.port,
        )
        status = await agent.start_instance(spec, instance_id=body.id)
        return status.to_dict()

    @router.get("/instances/{instance}")
    async def get_instance(instance: str) -> dict[str, Any]:
        return agent.instance(instance).to_dict()

    @router.delete("/instances/{instance}")
    async def stop_instance(instance: str) -> dict[str, Any]:
        return (await agent.stop_instance(instance)).to_dict()

    @router.get("/instances/{instance}/logs", response_class=PlainTextResponse)
    async def instance_logs(
        instance: str, tail: Annotated[int, Query(ge=1, le=10_000)] = 100
    ) -> PlainTextResponse:
        lines = agent.log_tail(instance, tail)
        return PlainTextResponse("".join(f"{line}\n" for line in lines))

    return router


def _environment(agent: Agent, environment: EnvironmentState) -> dict[str, Any]:
    view = agent.view(environment.name)
    return {
        **environment.to_dict(),
        "instances": len(agent.instances(environment.name)),
        "backends": [asdict(backend) for backend in view.backends],
    }


def render_metrics(agent: Agent) -> str:
    """The supervisor's counters in the Prometheus text format (0.0.4)."""
    environments = [environment.name for environment in agent.environments()]
    by_phase = {(name, phase): 0 for name in environments for phase in InstancePhase}
    for status in agent.all_instances():
        key = (status.environment, status.phase)
        by_phase[key] = by_phase.get(key, 0) + 1
    supervisor = agent.supervisor
    lines = [
        "# HELP andon_agent_instances Instances on this agent, by environment and phase.",
        "# TYPE andon_agent_instances gauge",
        *(
            f'andon_agent_instances{{environment="{_label(env)}",phase="{phase.value}"}} {n}'
            for (env, phase), n in sorted(by_phase.items())
        ),
        "# HELP andon_agent_restarts_total Instance restarts since the agent started, by "
        "environment and reason.",
        "# TYPE andon_agent_restarts_total counter",
        *(
            f'andon_agent_restarts_total{{environment="{_label(env)}",reason="{reason}"}} '
            f"{supervisor.restarts.get((env, reason), 0)}"
            for env in sorted({*environments, *(env for env, _ in supervisor.restarts)})
            for reason in ("crash", "unhealthy")
        ),
        "# HELP andon_agent_crash_loops_total Instances that went into a crash loop since "
        "the agent started.",
        "# TYPE andon_agent_crash_loops_total counter",
        *(
            f'andon_agent_crash_loops_total{{environment="{_label(env)}"}} '
            f"{supervisor.crash_loops.get(env, 0)}"
            for env in sorted({*environments, *supervisor.crash_loops})
        ),
        "# HELP andon_agent_uptime_seconds Seconds since the agent started.",
        "# TYPE andon_agent_uptime_seconds gauge",
        f"andon_agent_uptime_seconds {agent.uptime():.3f}",
    ]
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
