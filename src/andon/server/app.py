"""Builds the FastAPI application: routes, JSON error bodies, request logging.

Every error leaves the API as ``{"error": {"code", "message", ...}}`` with a status that
fits it, so that clients (the CLI first) can show one line and act on the code.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request, Response

from andon import __version__
from andon.api_errors import BodySizeLimit, error_responses, install_error_handlers
from andon.environments import EnvironmentLifecycle
from andon.errors import AndonError
from andon.pipeline import LineChange, PipelineRunner
from andon.server import dashboard
from andon.server.access import (
    AccessControl,
    audit_changes,
    authenticated,
    bootstrap_admin,
    default_access,
)
from andon.server.access import (
    record as audit,
)
from andon.server.api import access as access_routes
from andon.server.api import (
    artifacts,
    dora,
    environments,
    experiments,
    flags,
    flow,
    health,
    hooks,
    line,
    metrics,
    ofrep,
    pipelines,
    projects,
    rollouts,
    sdk,
    secrets,
    tests,
    webhooks,
)
from andon.server.auto_deploying import AutoDeployer
from andon.server.deploys import Deploys
from andon.server.drift_checking import DriftChecker
from andon.server.flag_guarding import FlagGuardController
from andon.server.flagging import FlagService
from andon.server.notifying import Notifier
from andon.server.operations import EnvironmentOperations
from andon.server.reaping import EnvironmentReaper
from andon.server.rolling_out import RolloutController
from andon.server.scheduling import PipelineScheduler
from andon.settings import Settings
from andon.store import EnvironmentRecord, Store

access_log = logging.getLogger("andon.server.access")
error_log = logging.getLogger("andon.server")

MAX_BODY_BYTES = 1 << 20
"""The largest request body a route takes (413 above): more than any flag, batch of SDK
reports or command body needs."""
MAX_PUSH_EVENT_BYTES = 25 << 20
"""The largest push event ``/api/v1/hooks/git`` takes: GitHub caps its webhook payloads at
25 MB, and a push of many commits can exceed the default."""

# Every route of /api/v1 may answer these with the one error body (documented in the
# OpenAPI document); health has fewer, and OFREP's failures have the protocol's shape
# (api/ofrep.py).
_ERRORS = error_responses(400, 401, 403, 404, 409, 413, 422, 503)


def create_app(
    settings: Settings,
    store: Store,
    *,
    controllers: bool = True,
    lifecycle: EnvironmentLifecycle | None = None,
) -> FastAPI:
    """The control plane's ASGI application, serving ``store``; the caller owns the store.

    With ``controllers`` the pipeline scheduler watches trunks (and its tick reaps expired
    environments and checks drift) while the app runs; tests of the API alone turn it off
    and drive the controllers themselves. ``lifecycle`` creates and destroys environments
    (default: on the local agent that ``andon start`` recorded; tests give a fake runtime).
    """
    notifier = Notifier.from_settings(settings)
    runner = PipelineRunner(
        store,
        settings,
        concurrency=settings.concurrency,
        on_line_change=_line_changed(store, notifier),
    )
    lifecycle = lifecycle or EnvironmentLifecycle(store, settings)
    flag_service = FlagService(store, notifier=notifier)
    operations = EnvironmentOperations(on_ready=_flag_declarer(lifecycle, flag_service))
    reaper = EnvironmentReaper(store, lifecycle, operations)
    drift = DriftChecker(
        store, lifecycle, operations, interval=settings.drift_interval, notifier=notifier
    )
    rollouts_controller = RolloutController(store, lifecycle, flags=flag_service, notifier=notifier)
    # Its own task, not a periodic of the scheduler: the scheduler's tick waits for git
    # polls and drift checks, and a guard must flip within seconds of a breach.
    guards = FlagGuardController(store, lifecycle, flag_service, notifier=notifier)
    deploys = Deploys(store, lifecycle, rollouts_controller)
    auto_deployer = AutoDeployer(store, deploys)
    scheduler = PipelineScheduler(
        store, settings, runner, periodic=[reaper.tick, drift.tick, auto_deployer.tick]
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        bootstrap_admin(settings, store)
        if controllers:
            reaper.recover()
            scheduler.start()
            rollouts_controller.start()
            guards.start()
        try:
            yield
        finally:
            flag_service.streams.close()
            await guards.stop()
            await rollouts_controller.stop()
            await scheduler.stop()
            await operations.close()
            notifier.flush(timeout=5.0)

    app = FastAPI(
        title="Andon",
        version=__version__,
        description="Continuous delivery from a commit on trunk to customers.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.access = AccessControl(store)
    app.state.started = time.time()
    app.state.notifier = notifier
    app.state.runner = runner
    app.state.scheduler = scheduler
    app.state.lifecycle = lifecycle
    app.state.operations = operations
    app.state.reaper = reaper
    app.state.drift_checker = drift
    app.state.rollouts = rollouts_controller
    app.state.deploys = deploys
    app.state.auto_deployer = auto_deployer
    app.state.flags = flag_service
    app.state.flag_guards = guards
    # The server runner calls it before waiting for open connections: SDK streams would
    # otherwise hold a stopping server forever.
    app.state.close_streams = flag_service.streams.close
    _route(app)
    return app


def _route(app: FastAPI) -> None:
    """The routes, their access checks, error bodies, the audit of changes, the access log."""
    # Routes of people's tokens; health, git webhooks (HMAC) and the flag SDKs' routes
    # (flag client tokens) answer to other credentials: see andon.server.access.
    signed_in = [Depends(default_access)]
    for module in (
        projects,
        pipelines,
        artifacts,
        line,
        tests,
        environments,
        rollouts,
        secrets,
        flags,
        experiments,
        webhooks,
        dora,
        flow,
    ):
        app.include_router(
            module.router, prefix="/api/v1", dependencies=signed_in, responses=_ERRORS
        )
    app.include_router(
        access_routes.router,
        prefix="/api/v1",
        dependencies=[Depends(authenticated)],
        responses=_ERRORS,
    )
    for module in (hooks, sdk):
        app.include_router(module.router, prefix="/api/v1", responses=_ERRORS)
    app.include_router(health.router, prefix="/api/v1", responses=error_responses(413, 503))
    app.include_router(ofrep.router)
    # Prometheus scrapes /metrics with a viewer's token, outside /api/v1.
    app.include_router(metrics.router, dependencies=signed_in, responses=_ERRORS)
    # The dashboard's pages after the API's routes, so that those match first.
    dashboard.install(app)
    install_error_handlers(
        app,
        who="server",
        unknown_route="there is no such API route; see /api/v1/openapi.json.",
        log=error_log,
    )
    # Innermost of the three: the access log records the 413s too.
    app.add_middleware(
        BodySizeLimit,
        default=MAX_BODY_BYTES,
        limits={"/api/v1/hooks/git": MAX_PUSH_EVENT_BYTES},
    )
    app.middleware("http")(audit_changes)
    app.middleware("http")(_log_request)


def _line_changed(store: Store, notifier: Notifier) -> Callable[[str, LineChange], None]:
    """What a pipeline that stops or restarts the line does besides: tell, and audit."""

    def changed(project: str, change: LineChange) -> None:
        notifier.line_changed(project, change)
        audit(
            store,
            "line.stopped" if change.stopped else "line.restarted",
            f"projects/{project}/line",
            actor=change.actor,
            after={
                "reason": change.reason,
                "commit": change.commit,
                "pipeline": change.pipeline_id,
            },
        )

    return changed


def _flag_declarer(
    lifecycle: EnvironmentLifecycle, flags: FlagService
) -> Callable[[EnvironmentRecord], Awaitable[None]]:
    """What a new environment does once ready: take the flags its release's andon.yaml
    declares. Flags that cannot be applied are logged; the environment is up all the same."""

    async def declare(record: EnvironmentRecord) -> None:
        try:
            order = await asyncio.to_thread(lifecycle.order_of, record)
            actor = f"deploy of {(record.version or '')[:12]}"
            await asyncio.to_thread(
                flags.apply_declared, record.project, record.name, order.spec.flags, actor
            )
        except AndonError as exc:
            error_log.warning("the flags of %s were not applied: %s", record.name, exc.message)

    return declare


async def _log_request(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    started = time.perf_counter()
    response = await call_next(request)
    elapsed = (time.perf_counter() - started) * 1000
    access_log.info(
        "%s %s %d %.1fms", request.method, request.url.path, response.status_code, elapsed
    )
    return response
