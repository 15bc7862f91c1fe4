"""Asking every metric source of an analysis run at once, and the factory that makes the
providers an analysis of andon.yaml needs.

The rollout reconciler calls :func:`providers_for` when a run begins and :func:`observe`
at each look, then hands the :class:`~andon.analysis.Observed` to
:func:`~andon.analysis.begin_run` or :func:`~andon.analysis.take_look`. :func:`observe`
never raises for a source: one that fails is unreachable, with its reason.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from andon.analysis.providers.app import AppProvider
from andon.analysis.providers.command import CommandProvider
from andon.analysis.providers.prometheus import URL_VARIABLE, PrometheusProvider
from andon.analysis.providers.protocol import Provider, Subject
from andon.analysis.providers.router import RouterProvider
from andon.analysis.providers.webhook import WebhookProvider
from andon.analysis.readings import (
    APP,
    ROUTER,
    Answer,
    Observed,
    counter_of,
    is_counted,
    sources_of,
)
from andon.errors import AndonError
from andon.runtimes import Runtime
from andon.spec import MetricSpec
from andon.spec.release import MetricProvider


async def observe(providers: Sequence[Provider], subject: Subject) -> Observed:
    """What every provider says about ``subject``, asked concurrently and put together."""
    answers = await asyncio.gather(*(_ask(provider, subject) for provider in providers))
    snapshot: Mapping[str, Any] | None = None
    counters: dict[str, Mapping[str, float]] | None = None
    queried: dict[str, Mapping[str, float]] = {}
    answered: dict[str, Answer] = {}
    unreachable: dict[str, str] = {}
    for provider, (observed, failure) in zip(providers, answers, strict=True):
        if failure is not None:
            unreachable[provider.source] = failure
            continue
        assert observed is not None
        snapshot = observed.snapshot if observed.snapshot is not None else snapshot
        if observed.counters is not None:
            counters = {**(counters or {}), **observed.counters}
        queried.update(observed.queried)
        answered.update(observed.answers)
        unreachable.update(observed.unreachable)
    return Observed(snapshot, counters, queried, answered, unreachable)


async def _ask(provider: Provider, subject: Subject) -> tuple[Observed | None, str | None]:
    try:
        return await provider.observe(subject), None
    except AndonError as exc:
        return None, exc.message
    except Exception as exc:  # a provider's bug must not stop the run: it is reported
        return None, f"{provider.source} failed unexpectedly: {type(exc).__name__}: {exc}."


def providers_for(
    metrics: Sequence[MetricSpec],
    *,
    runtime: Runtime,
    environment: str,
    client: httpx.AsyncClient | None = None,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    starting: bool = False,
) -> list[Provider]:
    """The providers ``metrics`` need in ``environment``: the router once, the instances'
    counters once, and one per Prometheus, webhook and command metric. With ``starting``,
    only those a run's start reads (the ones whose counts windows begin from): webhooks
    and commands are not asked before the first look. No side effects."""
    environ = os.environ if environ is None else environ
    found: list[Provider] = []
    sources = {source for spec in metrics for source in sources_of(spec)}
    if ROUTER in sources:
        found.append(RouterProvider(runtime, environment))
    if APP in sources:
        names = sorted({counter for spec in metrics if (counter := _app_counter(spec)) is not None})
        found.append(AppProvider(runtime, environment, names, client))
    for spec in metrics:
        make = _FACTORIES.get(spec.provider)
        if make is None or (starting and not is_counted(spec)):
            continue
        found.append(make(spec, client, cwd, environ))
    return found


def _app_counter(spec: MetricSpec) -> str | None:
    return counter_of(spec) if spec.provider is MetricProvider.APP else None


_Factory = Callable[
    [MetricSpec, httpx.AsyncClient | None, Path | None, Mapping[str, str]], Provider
]

_FACTORIES: dict[MetricProvider, _Factory] = {
    MetricProvider.PROMETHEUS: lambda spec, client, _, environ: PrometheusProvider.for_metric(
        spec, spec.url or environ.get(URL_VARIABLE), client
    ),
    MetricProvider.WEBHOOK: lambda spec, client, _, __: WebhookProvider(
        spec.name,
        spec.url or "",
        client,
        spec.timeout.total_seconds() if spec.timeout else 10.0,
    ),
    MetricProvider.COMMAND: lambda spec, _, cwd, __: CommandProvider(
        spec.name,
        spec.command or "",
        spec.timeout.total_seconds() if spec.timeout else 30.0,
        cwd,
    ),
}
"""A metric's own provider, by the kind andon.yaml names (router and app metrics share
theirs)."""
