"""What one environment's router does: its versions and their instances, the weighted and
sticky split, header and cookie routes, mirroring, timeouts and limits.

The agent builds a :class:`RouterConfig` (or reads one with :meth:`RouterConfig.from_dict`
from its state file) and hands it to :meth:`Router.apply`. Configs are frozen and checked
when built: every problem is reported at once, each with its place
(``versions[1].weight: ...``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from enum import StrEnum
from types import UnionType
from typing import Any, get_args, get_origin, get_type_hints

from andon.errors import ConfigurationError

DEFAULT_MAX_HEAD_BYTES = 16 * 1024


class InstanceState(StrEnum):
    """Whether an instance takes new requests: only ``ready`` ones do.

    ``draining`` (being stopped) and ``unhealthy`` (failing its health check) both finish
    the requests they have and get no new ones; the agent says which, for people reading
    the config.
    """

    READY = "ready"
    DRAINING = "draining"
    UNHEALTHY = "unhealthy"


class StickyFallback(StrEnum):
    """What a request without the sticky header or cookie is bucketed by."""

    CLIENT_IP = "client-ip"
    RANDOM = "random"


@dataclass(frozen=True)
class Instance:
    """One running instance of a version, reachable at ``host:port``."""

    host: str
    port: int
    state: InstanceState = InstanceState.READY

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)


@dataclass(frozen=True)
class Version:
    """A version of the service and the share of (unrouted) requests it gets."""

    name: str
    instances: tuple[Instance, ...]
    weight: int = 0
    """Percent of weighted requests; the weights of all versions sum to 100."""


@dataclass(frozen=True)
class Sticky:
    """Keep a user on one version: bucket by this header's or cookie's value.

    The bucketing key is ``environment + value``, bucketed with :func:`andon.bucketing.pick`
    over the versions' weights in config order, so a user lands where a flag rollout over
    the same environment would put them. The header wins over the cookie; without either,
    ``fallback`` decides.
    """

    header: str | None = None
    cookie: str | None = None
    fallback: StickyFallback = StickyFallback.CLIENT_IP


@dataclass(frozen=True)
class Route:
    """Send requests whose header (or cookie) equals ``value`` to ``version``, whatever
    the weights say. Routes are tried in order; the first that matches wins."""

    version: str
    value: str
    header: str | None = None
    cookie: str | None = None


@dataclass(frozen=True)
class Mirror:
    """Send a copy of ``percent`` % of requests to ``version``; its answers are discarded."""

    version: str
    percent: float


@dataclass(frozen=True)
class Timeouts:
    """Seconds the router waits, each for one thing."""

    connect: float = 3.0
    """To connect to an instance (then the next instance is tried)."""
    header: float = 10.0
    """For a request's line and headers, from its first byte (slowloris)."""
    upstream: float = 60.0
    """For the instance between reads once the request is sent (504 before any answer)."""
    idle: float = 75.0
    """For the next request on a kept-alive client connection, and between reads of a body."""
    upstream_idle: float = 4.0
    """How long an unused upstream connection is kept: shorter than the instances' own
    keep-alive timeout (uvicorn's is 5 s), so the router never reuses one they are closing."""
    hold: float = 30.0
    """How long a request waits for a ready instance of its version (one being replaced,
    as in a recreate deploy) before the router answers 503; it goes as soon as the
    routing changes so that a version can take it."""


@dataclass(frozen=True)
class Limits:
    """Bounds that keep one client or one slow mirror from hurting the others."""

    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES
    """Request line plus headers; larger heads are answered 431."""
    max_mirrors_in_flight: int = 64
    """Mirrored requests at once; beyond this, requests are not mirrored."""
    mirror_buffer_bytes: int = 1024 * 1024
    """Request body a slow mirror may fall behind by before its copy is dropped."""
    max_idle_per_instance: int = 256
    """Kept-alive upstream connections per instance."""


@dataclass(frozen=True)
class RouterConfig:
    """Everything one environment's listener needs to route a request.

    With no versions at all (nothing deployed yet) the listener answers every request 503.
    """

    env: str
    versions: tuple[Version, ...]
    sticky: Sticky | None = None
    routes: tuple[Route, ...] = ()
    mirror: Mirror | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        problems = _check(self)
        if problems:
            raise ConfigurationError(_summary(self.env, problems))

    def version(self, name: str) -> Version:
        """The version called ``name``; KeyError when there is none."""
        for version in self.versions:
            if version.name == name:
                return version
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; :meth:`from_dict` reads it back."""
        return _plain(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RouterConfig:
        """Read a config from plain data, reporting every problem with its place.

        Raises :class:`~andon.errors.ConfigurationError` naming every problem.
        """
        problems: list[str] = []
        values = _read(cls, data, "", problems)
        if problems:
            raise ConfigurationError(_summary(str(data.get("env", "?")), problems))
        return cls(**values)


def _read(cls: type, data: Any, place: str, problems: list[str]) -> dict[str, Any]:
    """The constructor arguments of dataclass ``cls`` from ``data``, checked by type."""
    if not isinstance(data, Mapping):
        problems.append(f"{place or 'config'}: expected an object, got {type(data).__name__}")
        return {}
    hints = get_type_hints(cls)
    known = {item.name: item for item in fields(cls)}
    for key in data:
        if key not in known:
            expected = ", ".join(known)
            problems.append(f"{place}{key}: unknown key; expected one of {expected}")
    values: dict[str, Any] = {}
    for name, item in known.items():
        if name in data:
            values[name] = _value(hints[name], data[name], f"{place}{name}", problems)
        elif item.default is MISSING and item.default_factory is MISSING:
            problems.append(f"{place}{name}: missing")
    return values


def _value(hint: Any, data: Any, place: str, problems: list[str]) -> Any:
    origin, arguments = get_origin(hint), get_args(hint)
    if origin is UnionType:  # X | None
        if data is None:
            return None
        hint = next(argument for argument in arguments if argument is not type(None))
        origin, arguments = get_origin(hint), get_args(hint)
    if origin is tuple:
        if not isinstance(data, list):
            problems.append(f"{place}: expected a list, got {type(data).__name__}")
            return ()
        return tuple(
            _value(arguments[0], item, f"{place}[{index}]", problems)
            for index, item in enumerate(data)
        )
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        choices = [member.value for member in hint]
        if data not in choices:
            problems.append(f"{place}: {data!r} is not one of {', '.join(choices)}")
            return next(iter(hint))
        return hint(data)
    if isinstance(hint, type) and hasattr(hint, "__dataclass_fields__"):
        values = _read(hint, data, f"{place}.", problems)
        try:
            return hint(**values)
        except TypeError:  # a missing field, already reported
            return None
    expected = {str: (str,), int: (int,), float: (int, float)}[hint]
    if isinstance(data, bool) or not isinstance(data, expected):
        problems.append(f"{place}: expected {hint.__name__}, got {type(data).__name__}")
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if hasattr(value, "__dataclass_fields__"):
        return {item.name: _plain(getattr(value, item.name)) for item in fields(value)}
    return value


def _summary(env: str, problems: list[str]) -> str:
    listed = "; ".join(problems)
    return f"The router config of environment {env!r} is invalid: {listed}. Fix it and apply again."


def _check(config: RouterConfig) -> list[str]:
    """Every problem of ``config`` that its types alone do not rule out, with its place."""
    problems: list[str] = []
    if not config.env:
        problems.append("env: must not be empty")
    names = [version.name for version in config.versions]
    for index, version in enumerate(config.versions):
        place = f"versions[{index}]"
        if not version.name:
            problems.append(f"{place}.name: must not be empty")
        elif names.index(version.name) != index:
            problems.append(f"{place}.name: {version.name!r} is named twice")
        if not 0 <= version.weight <= 100:
            problems.append(f"{place}.weight: {version.weight} is not a percentage (0 to 100)")
        for number, instance in enumerate(version.instances):
            if not 0 < instance.port < 65536:
                problems.append(f"{place}.instances[{number}].port: {instance.port} is not a port")
            if not instance.host:
                problems.append(f"{place}.instances[{number}].host: must not be empty")
    total = sum(version.weight for version in config.versions)
    if config.versions and total not in (0, 100):
        # 0 is allowed: only routes reach the versions (a first deploy's smoke tests).
        problems.append(f"versions: weights sum to {total}; they must sum to 100 (or 0)")
    sticky = config.sticky
    if sticky is not None and sticky.header is None and sticky.cookie is None:
        problems.append("sticky: name a header, a cookie or both")
    for index, route in enumerate(config.routes):
        place = f"routes[{index}]"
        if (route.header is None) == (route.cookie is None):
            problems.append(f"{place}: name exactly one of header and cookie")
        if route.version not in names:
            problems.append(f"{place}.version: unknown version {route.version!r}")
    mirror = config.mirror
    if mirror is not None:
        if mirror.version not in names:
            problems.append(f"mirror.version: unknown version {mirror.version!r}")
        if not 0 <= mirror.percent <= 100:
            problems.append(f"mirror.percent: {mirror.percent} is not a percentage (0 to 100)")
    for item in fields(config.timeouts):
        if getattr(config.timeouts, item.name) <= 0:
            problems.append(f"timeouts.{item.name}: must be more than 0 seconds")
    for item in fields(config.limits):
        if getattr(config.limits, item.name) < 1:
            problems.append(f"limits.{item.name}: must be at least 1")
    return problems
