"""A controller's wait for its wake-up: a cancel that comes as the event is set stops
the controller (``asyncio.wait_for`` on Python 3.11 loses it, and a stopping server
then waits for the controller forever)."""

from __future__ import annotations

import asyncio

import pytest

from andon.server.waking import woken


async def controller(wake: asyncio.Event, rounds: list[int]) -> None:
    while True:
        wake.clear()
        rounds.append(len(rounds))
        await woken(wake, 60)


def test_a_cancel_that_comes_as_the_event_is_set_stops_the_loop() -> None:
    async def scenario() -> list[int]:
        wake, rounds = asyncio.Event(), []
        task = asyncio.create_task(controller(wake, rounds))
        await asyncio.sleep(0)
        wake.set()
        await asyncio.sleep(0)  # the inner wait is done, its waker not yet resumed
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        return rounds

    assert asyncio.run(scenario()) == [0]


def test_it_says_whether_it_was_woken_or_timed_out() -> None:
    async def scenario() -> tuple[bool, bool]:
        event = asyncio.Event()
        timed_out = await woken(event, 0.01)
        asyncio.get_running_loop().call_later(0.01, event.set)
        return timed_out, await woken(event, 5)

    assert asyncio.run(scenario()) == (False, True)
