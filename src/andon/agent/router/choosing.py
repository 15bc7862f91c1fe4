"""Which version answers a request: header and cookie routes first, then the weighted
split, sticky when the config says so. Pure: the proxy calls :func:`plan_split` once per
config and :func:`decide_version` once per request, with the request's watched headers,
the client's address and a random draw it made itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from andon.agent.router.config import RouterConfig, StickyFallback
from andon.bucketing import pick

COOKIE = b"cookie"


@dataclass(frozen=True, slots=True)
class SplitPlan:
    """A config's routing rules, compiled for the request path (header names lower-cased
    bytes, the weighted versions in config order)."""

    env_key: bytes
    weighted: tuple[tuple[str, int], ...]
    total_weight: int
    watched: frozenset[bytes]
    """Lower-cased names of the headers :func:`decide_version` needs to see."""
    header_routes: tuple[tuple[bytes, bytes, str], ...]
    cookie_routes: tuple[tuple[bytes, bytes, str], ...]
    sticky_header: bytes | None
    sticky_cookie: bytes | None
    sticky_by_client_ip: bool
    sticky: bool


def plan_split(config: RouterConfig) -> SplitPlan:
    """Compile ``config``'s routes and split for :func:`decide_version`. No side effects."""
    header_routes = tuple(
        (route.header.lower().encode("latin-1"), route.value.encode("latin-1"), route.version)
        for route in config.routes
        if route.header is not None
    )
    cookie_routes = tuple(
        (route.cookie.encode("latin-1"), route.value.encode("latin-1"), route.version)
        for route in config.routes
        if route.cookie is not None
    )
    sticky = config.sticky
    sticky_header = sticky.header.lower().encode("latin-1") if sticky and sticky.header else None
    sticky_cookie = sticky.cookie.encode("latin-1") if sticky and sticky.cookie else None
    watched = {name for name, _, _ in header_routes}
    if sticky_header is not None:
        watched.add(sticky_header)
    if cookie_routes or sticky_cookie is not None:
        watched.add(COOKIE)
    weighted = tuple((version.name, version.weight) for version in config.versions)
    return SplitPlan(
        env_key=config.env.encode(),
        weighted=weighted,
        total_weight=sum(weight for _, weight in weighted),
        watched=frozenset(watched),
        header_routes=header_routes,
        cookie_routes=cookie_routes,
        sticky_header=sticky_header,
        sticky_cookie=sticky_cookie,
        sticky_by_client_ip=sticky is not None and sticky.fallback is StickyFallback.CLIENT_IP,
        sticky=sticky is not None,
    )


def decide_version(
    plan: SplitPlan, seen: Mapping[bytes, bytes] | None, client_ip: bytes, draw: int
) -> str | None:
    """The version that answers a request; None when no route matches and every weight
    is 0 (a first deploy being smoke-tested). No side effects.

    ``seen`` maps the lower-cased names of the request's headers in ``plan.watched`` to
    their values (None when it had none); ``draw`` is a random 32-bit number, used only
    when the request is not sticky.
    """
    cookies: bytes | None = None
    if seen:
        for name, value, version in plan.header_routes:
            if seen.get(name) == value:
                return version
        cookies = seen.get(COOKIE)
        if cookies is not None:
            for name, value, version in plan.cookie_routes:
                if cookie_value(cookies, name) == value:
                    return version
    if plan.total_weight == 0:
        return None
    if plan.sticky:
        key: bytes | None = None
        if seen and plan.sticky_header is not None:
            key = seen.get(plan.sticky_header)
        if not key and cookies is not None and plan.sticky_cookie is not None:
            key = cookie_value(cookies, plan.sticky_cookie)
        if not key and plan.sticky_by_client_ip:
            key = client_ip
        if key:
            chosen = pick(plan.env_key + key, plan.weighted)
            if chosen is not None:
                return chosen
    # Not sticky: the draw stands in for the hash, laid out like andon.bucketing.pick.
    bucket = (draw * plan.total_weight) >> 32
    running = 0
    for version, weight in plan.weighted:
        running += weight
        if bucket < running:
            return version
    return plan.weighted[-1][0]  # pragma: no cover - weights sum to 100


def cookie_value(header: bytes, name: bytes) -> bytes | None:
    """The value of cookie ``name`` in a ``Cookie`` header (``a=1; b=2``), or None."""
    for part in header.split(b";"):
        key, sep, value = part.strip().partition(b"=")
        if sep and key == name:
            return value.strip(b'"')
    return None
