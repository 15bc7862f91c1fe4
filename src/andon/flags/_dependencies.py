"""Dependency guards: a flag that falls back by itself, in the SDK's own process, when
something it depends on stops answering.

The SDK payload's ``guards`` name, per flag, entries such as ``{"dependency": {"tcp":
"127.0.0.1:6379"}, "failures": 3, "interval": "1s", "fallback": "off"}``;
:func:`read_dependency_guards` reads those (metric guards are the server's business and
are skipped). :class:`Guards`, owned by :class:`~andon.flags.client.FlagClient`, runs one
:class:`GuardWatch` thread per guard, which checks the dependency (healthy: a TCP
connection, or a 2xx answer, within :data:`CHECK_TIMEOUT`) and moves the guard's state
with the pure :func:`assess_check`; each flip is handed to the client, which serves the
flag's ``fallback`` (:func:`with_fallbacks`) and reports the flip to the server at once.

Timing: ``failures`` checks ``interval`` apart take ``(failures - 1) * interval`` after the
first failed check, and that check itself comes up to an ``interval`` after the
dependency went down, so 3 failures at 1 s would trip 2 to 3 s late. Once a check has
failed, :func:`decide_next_check` therefore confirms ``failures`` times faster: 3 failures
at 1 s trip within 1.7 s of a refused dependency going down (a dependency that hangs
adds up to CHECK_TIMEOUT per check).
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger("andon.flags.client")

CHECK_TIMEOUT = 1.0
"""Seconds a dependency has to accept a connection or answer."""
# As andon.yaml writes durations (``1s``, ``500ms``, ``1m30s``), which the SDK cannot
# read through andon.spec.
_DURATION = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d))+$")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True, slots=True)
class DependencyGuard:
    """One dependency guard of one flag."""

    flag: str
    index: int
    """The guard's place among the flag's guards (metric ones included), from 0."""
    kind: str
    """``tcp`` or ``http``."""
    target: str
    """``host:port`` or a URL."""
    failures: int
    interval: float
    """Seconds between checks."""
    fallback: str
    """The variant served while the guard is tripped."""

    def describe(self) -> str:
        """The dependency in a few words: ``tcp 127.0.0.1:6379``."""
        return f"{self.kind} {self.target}"


@dataclass(frozen=True, slots=True)
class GuardState:
    """Consecutive failed checks, and whether the guard has tripped."""

    failures: int = 0
    tripped: bool = False
    error: str | None = None


def assess_check(
    guard: DependencyGuard, state: GuardState, error: str | None
) -> tuple[GuardState, str | None]:
    """The guard's state after a check that failed with ``error`` (None: healthy), and
    the flip it makes: ``"tripped"``, ``"restored"`` or None. Pure: no side effects.

    ``failures`` consecutive failures trip the guard; the first success restores it.
    """
    if error is None:
        return GuardState(), ("restored" if state.tripped else None)
    failures = state.failures + 1
    if not state.tripped and failures >= guard.failures:
        return GuardState(failures, True, error), "tripped"
    return GuardState(failures, state.tripped, error), None


def decide_next_check(guard: DependencyGuard, state: GuardState) -> float:
    """Seconds until the guard's next check. Pure: no side effects.

    Every ``interval``; but a dependency that failed and has not tripped the guard yet
    is checked ``failures`` times as often, so the guard trips within about one interval
    of the dependency going down (see the module's docstring).
    """
    if state.failures and not state.tripped:
        return guard.interval / guard.failures
    return guard.interval


def _seconds(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.match(value.strip()):
        parts = _DURATION_PART.findall(value.strip())
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    else:
        raise ValueError(f"interval {value!r} is not a duration such as 1s or 500ms")
    if seconds <= 0:
        raise ValueError(f"interval {value!r} is not a positive duration")
    return seconds


def _fallback(value: Any, variants: Mapping[str, Any]) -> str:
    if isinstance(value, str) and value in variants:
        return value
    # YAML may have read ``fallback: off`` as false: take the variant of that value.
    for name, variant in variants.items():
        if variant.__class__ is value.__class__ and variant == value:
            return str(name)
    known = ", ".join(variants)
    raise ValueError(f"fallback {value!r} is not one of the flag's variants ({known})")


def _read_guard(
    flag: str, index: int, entry: Mapping[str, Any], variants: Mapping[str, Any]
) -> DependencyGuard:
    dependency = entry["dependency"]
    if not isinstance(dependency, Mapping) or len(dependency) != 1:
        raise ValueError("dependency names one of tcp (host:port) or http (a URL)")
    ((kind, target),) = dependency.items()
    if kind not in ("tcp", "http") or not isinstance(target, str) or not target:
        raise ValueError("dependency names one of tcp (host:port) or http (a URL)")
    if kind == "tcp":
        host, colon, port = target.rpartition(":")
        if not colon or not host or not port.isdigit():
            raise ValueError(f"tcp dependency {target!r} is not host:port")
    failures = entry.get("failures", 3)
    if not isinstance(failures, int) or isinstance(failures, bool) or failures < 1:
        raise ValueError(f"failures {failures!r} is not a whole number of at least 1")
    return DependencyGuard(
        flag=flag,
        index=index,
        kind=kind,
        target=target,
        failures=failures,
        interval=_seconds(entry.get("interval", "1s")),
        fallback=_fallback(entry.get("fallback"), variants),
    )


def read_dependency_guards(
    guards: Mapping[str, Any], document: Mapping[str, Any]
) -> Iterator[DependencyGuard]:
    """The dependency guards of a payload's ``guards``, for flags that ``document``
    defines; a guard that cannot be read is skipped with a warning."""
    flags = document.get("flags") or {}
    for flag, entries in guards.items():
        definition = flags.get(flag)
        if not isinstance(definition, Mapping) or not isinstance(entries, list):
            continue
        variants = definition.get("variants")
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or "dependency" not in entry:
                continue
            try:
                yield _read_guard(str(flag), index, entry, variants or {})
            except (ValueError, TypeError) as error:
                log.warning("ignored guard %d of flag '%s': %s", index, flag, error)


def with_fallbacks(
    document: Mapping[str, Any], tripped: Mapping[str, DependencyGuard]
) -> dict[str, Any]:
    """``document`` with each flag of ``tripped`` serving its guard's fallback: the
    targeting set aside and the fallback as default variant, as the server does for a
    metric guard, and ``guardTripped`` in the flag's metadata naming the dependency (so
    an evaluation shows reason STATIC with that metadata). No side effects."""
    flags = dict(document["flags"])
    for key, guard in tripped.items():
        definition = flags.get(key)
        if not isinstance(definition, Mapping):
            continue
        changed = {name: value for name, value in definition.items() if name != "targeting"}
        changed["defaultVariant"] = guard.fallback
        metadata = definition.get("metadata")
        changed["metadata"] = {
            **(metadata if isinstance(metadata, Mapping) else {}),
            "guardTripped": guard.describe(),
        }
        flags[key] = changed
    return {**document, "flags": flags}


def check_dependency(guard: DependencyGuard, timeout: float = CHECK_TIMEOUT) -> str | None:
    """Why the guard's dependency is unhealthy now, or None when it is healthy."""
    if guard.kind == "tcp":
        host, _, port = guard.target.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                return None
        except TimeoutError:
            return f"no connection within {timeout:g} s"
        except ConnectionRefusedError:
            return "connection refused"
        except OSError as error:
            return (error.strerror or str(error)).lower()
    try:
        response = httpx.get(guard.target, timeout=timeout)
    except httpx.TimeoutException:
        return f"no answer within {timeout:g} s"
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"
    if 200 <= response.status_code < 300:
        return None
    return f"it answered HTTP {response.status_code}"


Flip = Callable[[DependencyGuard, GuardState, str], None]
"""Called from a watch's thread with the guard, its new state and the flip."""


class GuardWatch:
    """The thread that checks one guard's dependency."""

    def __init__(self, guard: DependencyGuard, state: GuardState, on_flip: Flip) -> None:
        self.guard = guard
        self.state = state
        self._on_flip = on_flip
        self._stopping = threading.Event()
        name = f"andon-flags-guard-{guard.flag}-{guard.index}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start checking, the first check at once."""
        self._thread.start()

    def stop(self) -> None:
        """Stop checking (the thread ends after a check in progress)."""
        self._stopping.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                error = check_dependency(self.guard)
            except Exception as surprise:  # a check that cannot run is a failed check
                error = f"the check failed: {surprise}"
            if self._stopping.is_set():
                return
            self.state, flip = assess_check(self.guard, self.state, error)
            if flip is not None:
                try:
                    self._on_flip(self.guard, self.state, flip)
                except Exception:  # a watch must outlive its listener's surprises
                    log.exception("handling the flip of guard %s failed", self.guard)
            self._stopping.wait(decide_next_check(self.guard, self.state))


class Guards:
    """The watches of a client's dependency guards, kept in step with its flag set."""

    def __init__(self, on_flip: Flip) -> None:
        self._on_flip = on_flip
        self._watches: dict[DependencyGuard, GuardWatch] = {}
        self._lock = threading.Lock()

    def update(self, guards: list[DependencyGuard]) -> None:
        """Watch exactly ``guards``: an unchanged guard keeps its watch and state."""
        with self._lock:
            wanted = dict.fromkeys(guards)
            for guard in [guard for guard in self._watches if guard not in wanted]:
                self._watches.pop(guard).stop()
            for guard in wanted:
                if guard not in self._watches:
                    watch = GuardWatch(guard, GuardState(), self._on_flip)
                    self._watches[guard] = watch
                    watch.start()

    def tripped(self) -> dict[str, DependencyGuard]:
        """Per flag, the first of its guards that has tripped."""
        with self._lock:
            found: dict[str, DependencyGuard] = {}
            for guard, watch in sorted(self._watches.items(), key=lambda item: item[0].index):
                if watch.state.tripped:
                    found.setdefault(guard.flag, guard)
            return found

    def stop(self) -> None:
        """Stop every watch."""
        with self._lock:
            for watch in self._watches.values():
                watch.stop()
            self._watches.clear()

    def respawn(self) -> None:
        """In a forked child, whose copies of the watches have no threads: start a watch
        per guard again, each from the state the parent had reached."""
        self._lock = threading.Lock()
        inherited, self._watches = self._watches, {}
        for guard, watch in inherited.items():
            self._watches[guard] = GuardWatch(guard, watch.state, self._on_flip)
            self._watches[guard].start()
