"""The flag set a client serves now: which snapshot may replace it, and the evaluator
built from it with the tripped dependency guards' fallbacks.

:class:`~andon.flags.client.FlagClient` owns one :class:`ServedFlags`. Its stream thread
(and its start, from the cache or a bootstrap) :meth:`~ServedFlags.offer` every snapshot;
its guard watches call :meth:`~ServedFlags.refresh` after a flip. Its evaluations read
:attr:`ServedFlags.evaluator` without a lock: the evaluator is immutable and swapped
whole, so a reader never sees half a change. The lock orders the writers, and the fork
handlers hold it across ``os.fork`` (``_forking``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from andon.flags._dependencies import Guards, read_dependency_guards, with_fallbacks
from andon.flags._jsonlogic import Clock
from andon.flags._snapshots import Origin, Snapshot
from andon.flags.evaluating import Context, FlagSet
from andon.flags.resolutions import ErrorCode, FlagType, Reason, Resolution

log = logging.getLogger("andon.flags.client")


class Evaluator(Protocol):
    """What evaluations call: a :class:`FlagSet`, or :class:`NoFlags` before there is one."""

    def evaluate(
        self,
        key: str,
        default: Any,
        context: Context | None = None,
        *,
        kind: FlagType | None = None,
    ) -> Resolution[Any]: ...

    def resolve_boolean(
        self, key: str, default: bool, context: Context | None = None
    ) -> Resolution[bool]: ...


class NoFlags:
    """The evaluator of a client that has no flag set yet: the caller's default, with
    PROVIDER_NOT_READY."""

    def __init__(self, message: str) -> None:
        self._message = message

    def evaluate(
        self,
        key: str,
        default: Any,
        context: Context | None = None,
        *,
        kind: FlagType | None = None,
    ) -> Resolution[Any]:
        """The caller's ``default``, reason ERROR, PROVIDER_NOT_READY."""
        return Resolution(default, None, Reason.ERROR, ErrorCode.PROVIDER_NOT_READY, self._message)

    def resolve_boolean(
        self, key: str, default: bool, context: Context | None = None
    ) -> Resolution[bool]:
        """As :meth:`evaluate`."""
        return self.evaluate(key, default, context, kind=FlagType.BOOLEAN)


class ServedFlags:
    """The snapshot served, its evaluator, and the rules for replacing them.

    ``env``, when given, is the environment the served sets must be of; ``guards`` are the
    client's dependency guards, kept in step with the snapshot served.
    """

    def __init__(self, *, env: str | None, clock: Clock, guards: Guards, unready: str) -> None:
        self.lock = threading.Lock()
        self.evaluator: Evaluator = NoFlags(unready)
        """What evaluations call; read without the lock."""
        self.snapshot: Snapshot | None = None
        """The snapshot served (None: none yet)."""
        self._env = env
        self._clock = clock
        self._guards = guards
        self._plain: FlagSet | None = None
        self._flags: Mapping[str, Any] = {}
        self._server_environment: str | None = None
        self._refused = False

    def known_version(self) -> int | None:
        """The server version served, to name when asking for changes; None while a cache
        or bootstrap is served, so that the server sends its whole set."""
        snapshot = self.snapshot
        if snapshot is None or snapshot.origin is not Origin.SERVER:
            return None
        return snapshot.version

    def current_with_server(self) -> bool:
        """Whether the set served is the server's (so the client is up to date once the
        server has nothing newer)."""
        snapshot = self.snapshot
        return snapshot is not None and snapshot.origin is Origin.SERVER

    def offer(self, snapshot: Snapshot) -> frozenset[str] | None:
        """Serve ``snapshot`` if it may replace the one served (see
        :meth:`Snapshot.supersedes`) and is of the client's environment; the keys of
        the flags that changed, or None when it is not served."""
        with self.lock:
            current = self.snapshot
            if not self._belongs(snapshot):
                return None
            if not snapshot.supersedes(current):
                if current is not None and (snapshot.version or 0) < (current.version or 0):
                    log.warning(
                        "ignored flag-set version %s, older than the version %s served",
                        snapshot.version,
                        current.version,
                    )
                return None
            try:
                plain = snapshot.compile(clock=self._clock)
                guards = list(read_dependency_guards(snapshot.guards, snapshot.document))
            except Exception as error:  # a flag set that cannot be served leaves the last
                log.error("cannot serve flag-set version %s: %s", snapshot.version, error)
                return None
            self._guards.update(guards)
            return self._serve(snapshot, plain)

    def refresh(self) -> frozenset[str] | None:
        """Serve the snapshot again with the guards' fallbacks as they are now (after a
        guard flipped); the keys of the flags that changed, None without a snapshot."""
        with self.lock:
            snapshot, plain = self.snapshot, self._plain
            if snapshot is None or plain is None:
                return None
            return self._serve(snapshot, plain)

    def after_fork_in_child(self) -> None:
        """A forked child's copy of the lock may be held by a thread it does not have."""
        self.lock = threading.Lock()

    def _belongs(self, snapshot: Snapshot) -> bool:
        # Streamed events carry no environment: they belong to the one the last load named.
        environment = snapshot.environment or self._server_environment
        if snapshot.origin is Origin.SERVER:
            self._server_environment = environment
        if self._env is None or environment in (None, self._env):
            return True
        if not self._refused:
            self._refused = True
            log.error(
                "refused the flag set of environment %r: this client is for %r; give it a "
                "token of that environment",
                environment,
                self._env,
            )
        return False

    def _serve(self, snapshot: Snapshot, plain: FlagSet) -> frozenset[str]:
        document = snapshot.document
        evaluator = plain
        tripped = self._guards.tripped()
        if tripped:
            document = with_fallbacks(document, tripped)
            evaluator = snapshot.compile(document, clock=self._clock)
        before, after = self._flags, document["flags"]
        changed = frozenset(
            key for key in before.keys() | after.keys() if before.get(key) != after.get(key)
        )
        # The evaluator first: whoever reads the new version already gets its answers.
        self.evaluator, self._flags = evaluator, after
        self.snapshot, self._plain = snapshot, plain
        return changed
