"""Fork safety: a flag client created before ``os.fork`` (gunicorn ``--preload``, a
multiprocessing fork) goes on working in the child.

A forked child has copies of the client's memory but none of its threads, and any lock
one of those threads held is copied held. :func:`protect` registers each
:class:`~andon.flags.client.FlagClient` (weakly) with handlers installed once through
``os.register_at_fork``: before a fork every client takes its own lock, so that the child
copies no state half-changed; after it the parent lets go, and the child gets fresh
locks and starts its own threads and connections, serving the parent's last flag set
meanwhile.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Protocol

log = logging.getLogger("andon.flags.client")


class ForkAware(Protocol):
    """What a client does around a fork; none of these may block for long."""

    def _before_fork(self) -> None: ...

    def _after_fork_in_parent(self) -> None: ...

    def _after_fork_in_child(self) -> None: ...


_clients: weakref.WeakSet[ForkAware] = weakref.WeakSet()
_installed = False
_install_lock = threading.Lock()


def protect(client: ForkAware) -> None:
    """Carry ``client`` through every later ``os.fork`` of this process."""
    global _installed  # noqa: PLW0603 - the at-fork handlers are per process, like the set
    with _install_lock:
        if not _installed and hasattr(os, "register_at_fork"):
            os.register_at_fork(
                before=_before, after_in_parent=_after_in_parent, after_in_child=_after_in_child
            )
            _installed = True
        _clients.add(client)


def forget(client: ForkAware) -> None:
    """Stop carrying ``client`` (it is closed)."""
    _clients.discard(client)


_held: list[ForkAware] = []


def _before() -> None:
    # Hold every client's lock across the fork; the same list is released afterwards,
    # even if a client was collected meanwhile.
    for client in list(_clients):
        client._before_fork()
        _held.append(client)


def _after_in_parent() -> None:
    while _held:
        _held.pop()._after_fork_in_parent()


def _after_in_child() -> None:
    global _install_lock  # noqa: PLW0603 - a lock copied held by another thread would stay held
    _install_lock = threading.Lock()
    children = list(_held)
    _held.clear()
    for client in children:
        try:
            client._after_fork_in_child()
        except Exception:  # a fork must never fail because of a flag client
            log.exception("the flag client could not restart in the forked child %d", os.getpid())
