"""Waiting for a controller's wake-up event, with a timeout, without losing a cancel.

On Python 3.11, ``asyncio.wait_for(event.wait(), timeout)`` swallows a cancellation that
arrives in the same loop iteration as the event being set: it returns as if woken, and a
controller's loop goes round again instead of stopping — the server's shutdown then waits
for it forever. :func:`woken` waits with ``asyncio.wait``, which lets the cancel through.
"""

from __future__ import annotations

import asyncio


async def woken(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; whether it was set."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()
    return bool(done)
