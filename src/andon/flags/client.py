"""The flag SDK: a service's flags, evaluated in its own process and kept current.

A service creates one :class:`FlagClient` per process (docs/flags.md, "The Python SDK")
and asks it for flag values on every request. Evaluation is local and pure CPU: the
client's compiled :class:`~andon.flags.evaluating.FlagSet`, swapped whole when a new
version arrives, so it needs no lock and never blocks; besides, an evaluation only notes
its exposure in a dict (the first per flag and targeting key until the next batch).
Everything else runs in daemon threads, which is why
the same client serves threads and asyncio alike (no ``async`` variants: an evaluation
costs about a microsecond and never waits; only :meth:`FlagClient.wait_ready` blocks,
``await asyncio.to_thread(client.wait_ready, 5)`` from a coroutine):

- ``_snapshots``: a flag set as received (server, cache, bootstrap), checked;
- ``_serving``: which snapshot is served, and its evaluator with guard fallbacks;
- ``_streaming``: load the set, follow the stream, reconnect with jittered backoff;
- ``_cache``: the last-known set on disk, read at start when nothing fresher exists;
- ``_reporting``: exposures, ``track`` events, guard flips and the applied version;
- ``_dependencies``: dependency guards checked in this process;
- ``_forking``: a child after ``os.fork`` starts its own threads and connection.

:class:`~andon.flags.openfeature.AndonProvider` plugs a client into openfeature-sdk.
"""

from __future__ import annotations

import builtins
import logging
import math
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from andon.flags import _forking
from andon.flags._cache import CacheFile, default_cache_dir
from andon.flags._dependencies import DependencyGuard, Guards, GuardState
from andon.flags._jsonlogic import Clock
from andon.flags._reporting import MAX_BATCH, Reporter, key_text
from andon.flags._serving import ServedFlags
from andon.flags._snapshots import Origin, Snapshot, SnapshotError, read_bootstrap
from andon.flags._streaming import Endpoint, FlagStream
from andon.flags.evaluating import Context
from andon.flags.resolutions import ErrorCode, FlagType, Reason, Resolution

__all__ = ["FlagClient", "Listener"]

log = logging.getLogger("andon.flags.client")

Listener = Callable[[int | None, frozenset[str]], None]
"""Told, from a background thread, the version now served and the keys of the flags
that changed (by a new version or a guard flip)."""

_BOOLEAN, _STRING, _INTEGER, _FLOAT, _OBJECT = (
    FlagType.BOOLEAN,
    FlagType.STRING,
    FlagType.INTEGER,
    FlagType.FLOAT,
    FlagType.OBJECT,
)


def _targeting_key(context: Any) -> Any:
    if isinstance(context, Mapping):
        try:
            return context.get("targetingKey")
        except Exception:  # a caller's odd Mapping must not break an evaluation
            return None
    return None


class FlagClient:
    """The flags of one environment, evaluated locally and followed over the server's
    stream.

    ``url`` is the Andon server (None: offline, ``bootstrap`` alone); ``token`` a client
    token (``andon flags token create``), which selects the project and environment;
    ``env``, when given, names the environment the token must be for and keys the cache.
    ``cache_dir`` holds the last-known set (default: the per-user cache directory;
    False: none); ``bootstrap`` (a flagd document or SDK payload, as a dict or a JSON or
    YAML file) serves when neither the server nor the cache can. ``timeout`` bounds each
    request; ``flush_interval`` is how often exposures and events are sent; ``clock``
    gives the time of exposures and events and ``$flagd.timestamp``; ``exposures=False``
    records none.

    Evaluations never raise: a missing or broken flag, a wrong type or a bad context
    answers the caller's default with reason ERROR and an error code.
    """

    def __init__(
        self,
        url: str | None,
        env: str | None = None,
        token: str | None = None,
        *,
        cache_dir: str | os.PathLike[str] | Literal[False] | None = None,
        bootstrap: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        timeout: float = 5.0,
        flush_interval: float = 5.0,
        clock: Clock = time.time,
        exposures: bool = True,
    ) -> None:
        self._url = url
        self._env = env
        self._token = token
        self._timeout = timeout
        self._flush_interval = flush_interval
        self._clock = clock
        self._record = exposures and url is not None
        self._closed = False
        self._fresh = threading.Event()
        self._listeners: list[Listener] = []
        where = f"the server at {url}" if url else "no server (offline)"
        self._guards = Guards(self._guard_flipped)
        self._served = ServedFlags(
            env=env,
            clock=clock,
            guards=self._guards,
            unready=f"the flag client has no flag set yet: {where} has not answered, and "
            "there is no cached set nor bootstrap to start from",
        )
        self._cache: CacheFile | None = None
        if url is not None and cache_dir is not False:
            directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
            self._cache = CacheFile(directory, url=url, environment=env, token=token)
        self._build_workers()
        self._start_from(self._cache, bootstrap)
        _forking.protect(self)
        self._start_workers()

    # -- evaluation ---------------------------------------------------------------------

    def _resolve(self, key: str, default: Any, context: Any, kind: FlagType) -> Resolution[Any]:
        try:
            evaluator = self._served.evaluator
            # Booleans, the flags of hot loops, take the evaluator's one-lookup path.
            resolution = (
                evaluator.resolve_boolean(key, default, context)
                if kind is _BOOLEAN
                else evaluator.evaluate(key, default, context, kind=kind)
            )
        except Exception as error:  # an evaluation never raises into the caller
            return Resolution(
                default, None, Reason.ERROR, ErrorCode.GENERAL, f"flag {key!r}: {error}"
            )
        if resolution.variant is not None and self._record:
            try:
                # The hot path: one lookup for a key already exposed in this window.
                who = (
                    context.get("targetingKey")
                    if context.__class__ is dict
                    else _targeting_key(context)
                )
                if who is not None:
                    exposed = self._exposures
                    pair = (key, who)
                    if pair not in exposed and (
                        len(exposed) < MAX_BATCH or not self._reporter.crowded(len(exposed))
                    ):
                        exposed[pair] = (resolution.variant, self._clock())
            except Exception:  # recording an exposure must not cost the caller its answer
                log.debug("could not record the exposure of flag %r", key, exc_info=True)
        return resolution

    def boolean(self, key: str, default: bool, context: Context | None = None) -> bool:
        """The boolean value of flag ``key`` for ``context``; ``default`` on any error."""
        value: bool = self._resolve(key, default, context, _BOOLEAN).value
        return value

    def string(self, key: str, default: str, context: Context | None = None) -> str:
        """The string value of flag ``key`` for ``context``; ``default`` on any error."""
        value: str = self._resolve(key, default, context, _STRING).value
        return value

    def integer(self, key: str, default: int, context: Context | None = None) -> int:
        """The integer value of flag ``key`` for ``context``; ``default`` on any error."""
        value: int = self._resolve(key, default, context, _INTEGER).value
        return value

    def float(self, key: str, default: float, context: Context | None = None) -> float:
        """The float value of flag ``key`` for ``context``; ``default`` on any error."""
        value: float = self._resolve(key, default, context, _FLOAT).value
        return value

    def object(self, key: str, default: Any, context: Context | None = None) -> Any:
        """The object (or array) value of flag ``key``, a copy the caller may change."""
        return self._resolve(key, default, context, _OBJECT).value

    def boolean_details(
        self, key: str, default: bool, context: Context | None = None
    ) -> Resolution[bool]:
        """The whole answer for a boolean flag: value, variant, reason, error code."""
        return self._resolve(key, default, context, _BOOLEAN)

    def string_details(
        self, key: str, default: str, context: Context | None = None
    ) -> Resolution[str]:
        """The whole answer for a string flag: value, variant, reason, error code."""
        return self._resolve(key, default, context, _STRING)

    def integer_details(
        self, key: str, default: int, context: Context | None = None
    ) -> Resolution[int]:
        """The whole answer for an integer flag: value, variant, reason, error code."""
        return self._resolve(key, default, context, _INTEGER)

    def float_details(
        self, key: str, default: builtins.float, context: Context | None = None
    ) -> Resolution[builtins.float]:
        """The whole answer for a float flag: value, variant, reason, error code."""
        return self._resolve(key, default, context, _FLOAT)

    def object_details(
        self, key: str, default: Any, context: Context | None = None
    ) -> Resolution[Any]:
        """The whole answer for an object flag: value, variant, reason, error code."""
        return self._resolve(key, default, context, _OBJECT)

    def track(
        self, event_name: str, context: Context | None = None, value: builtins.float | None = None
    ) -> None:
        """Record a goal event (``checkout``) of ``context``'s targeting key, with an
        optional numeric ``value``; sent with the next batch. Never raises; an event
        without a targeting key cannot count towards an experiment and is not sent."""
        try:
            if not isinstance(event_name, str) or not event_name:
                log.warning("ignored a tracked event without a name (%r)", event_name)
                return
            key = key_text(_targeting_key(context))
            if key is None or self._url is None:
                return
            number = None
            if isinstance(value, int | float) and not isinstance(value, bool):
                number = value if math.isfinite(value) else None
            self._reporter.track(event_name, key, self._clock(), number)
        except Exception:
            log.exception("could not record the event %r", event_name)

    # -- state --------------------------------------------------------------------------

    @property
    def version(self) -> int | None:
        """The flag-set version served now (None: no set, or an unversioned bootstrap)."""
        snapshot = self._served.snapshot
        return snapshot.version if snapshot is not None else None

    @property
    def source(self) -> str | None:
        """Where the served set came from: ``server``, ``cache``, ``bootstrap`` or None."""
        snapshot = self._served.snapshot
        return snapshot.origin.value if snapshot is not None else None

    @property
    def ready(self) -> bool:
        """Whether a flag set is served (from the server, the cache or a bootstrap)."""
        return self._served.snapshot is not None

    @property
    def connected(self) -> bool:
        """Whether the stream to the server is open now."""
        return self._stream is not None and self._stream.connected

    @property
    def client_id(self) -> str:
        """This process's client id, as the server's stream and batches know it."""
        return self._client_id

    @property
    def dropped(self) -> int:
        """Exposures, events and guard flips dropped unsent (too many waited)."""
        return self._reporter.dropped

    def wait_ready(self, timeout: builtins.float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the server's flag set; whether it came.
        Meanwhile, and after a False, evaluations serve the cache or bootstrap if any."""
        return self._fresh.wait(timeout)

    def on_change(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(version, changed_keys)`` after every change of the served
        flags; returns a function that stops it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def close(self, timeout: builtins.float = 2.0) -> None:
        """Stop following the server, send what waits (up to ``timeout`` seconds), and
        stop. The last flag set goes on being served."""
        with self._served.lock:
            if self._closed:
                return
            self._closed = True
        _forking.forget(self)
        if self._stream is not None:
            self._stream.stop(timeout)
        self._guards.stop()
        if self._url is not None:
            self._reporter.stop(timeout=timeout)

    def __enter__(self) -> FlagClient:
        return self

    def __exit__(self, *exc_info: builtins.object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<FlagClient {self._url or 'offline'} env={self._env} version={self.version}>"

    # -- applying flag sets -------------------------------------------------------------

    def _start_from(
        self,
        cache: CacheFile | None,
        bootstrap: Mapping[str, Any] | str | os.PathLike[str] | None,
    ) -> None:
        snapshot = cache.load() if cache is not None else None
        if snapshot is None and bootstrap is not None:
            try:
                snapshot = read_bootstrap(bootstrap)
            except SnapshotError as error:
                log.error("the flag client cannot start from its bootstrap: %s", error)
        if snapshot is not None:
            self._apply(snapshot)

    def _apply(self, snapshot: Snapshot) -> None:
        if self._closed:
            return
        changed = self._served.offer(snapshot)
        if changed is None:
            # The server has nothing newer than what is served: up to date.
            if snapshot.origin is Origin.SERVER and self._served.current_with_server():
                self._fresh.set()
            return
        log.info("serving flag-set version %s (from the %s)", snapshot.version, snapshot.origin)
        self._reporter.applied(snapshot.version)
        if snapshot.origin is Origin.SERVER:
            self._fresh.set()
        self._notify(snapshot.version, changed)
        # Kept on disk after the listeners heard of it: the file (written and synced) is
        # for the next start, and a kill switch must not wait for a disk.
        if snapshot.origin is Origin.SERVER and self._cache is not None:
            self._cache.save(snapshot)

    def _guard_flipped(self, guard: DependencyGuard, state: GuardState, flip: str) -> None:
        changed = None if self._closed else self._served.refresh()
        if changed is None:
            return
        evidence: dict[str, Any] = {"dependency": guard.describe(), "failures": state.failures}
        if state.error is not None:
            evidence["error"] = state.error
        self._reporter.guard_flipped(
            {
                "flag": guard.flag,
                "guard": guard.index,
                "state": flip,
                "at": self._clock(),
                "evidence": evidence,
            }
        )
        if flip == "tripped":
            log.warning(
                "flag '%s' serves its fallback '%s': %s failed %d checks (%s)",
                guard.flag,
                guard.fallback,
                guard.describe(),
                state.failures,
                state.error,
            )
        else:
            log.warning("flag '%s' is restored: %s answers again", guard.flag, guard.describe())
        self._notify(self.version, changed)

    def _notify(self, version: int | None, changed: frozenset[str]) -> None:
        for listener in list(self._listeners):
            try:
                listener(version, changed)
            except Exception:
                log.exception("a flag-change listener failed")

    # -- background work and forks ------------------------------------------------------

    def _build_workers(self) -> None:
        self._client_id = f"c-{secrets.token_hex(8)}"
        headers = {"User-Agent": "andon-flags-python"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        endpoint = Endpoint(self._url or "", headers, self._timeout, self._client_id)
        self._reporter = Reporter(endpoint, flush_interval=self._flush_interval)
        self._exposures = self._reporter.exposures
        self._stream: FlagStream | None = None
        if self._url is not None:
            self._stream = FlagStream(
                endpoint,
                known=self._served.known_version,
                receive=self._apply,
                confirm=self._fresh.set,
            )

    def _start_workers(self) -> None:
        if self._stream is not None:
            self._reporter.start()
            self._stream.start()

    def _before_fork(self) -> None:
        self._served.lock.acquire()

    def _after_fork_in_parent(self) -> None:
        self._served.lock.release()

    def _after_fork_in_child(self) -> None:
        # The parent's locks may be copied held and its threads are gone; its sockets
        # are shared with the parent, so they are left alone (never shut down here).
        self._served.after_fork_in_child()
        fresh, self._fresh = self._fresh, threading.Event()
        if fresh.is_set():
            self._fresh.set()
        if self._closed:
            return
        self._build_workers()
        self._guards.respawn()
        self._reporter.applied(self.version)
        self._start_workers()
        log.debug("the flag client restarted in the forked child %d", os.getpid())
