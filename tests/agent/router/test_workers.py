"""Several router processes on one port (SO_REUSEPORT): every worker serves, a config
pushed to the group reaches each of them, their counters add up, and they stop with it."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest

from andon.agent.router import RouterWorkers
from andon.errors import PortInUseError


def test_a_group_of_workers_shares_a_port_takes_configs_and_adds_up_counters(kit: Any) -> None:
    async def scenario() -> dict[str, Any]:
        upstreams = {name: await kit.Upstream(name).start() for name in ("v1", "v2")}
        group = RouterWorkers(kit.split_config(upstreams, {"v1": 100}), count=2)
        await group.start("127.0.0.1", 0)
        pids = group.pids
        try:
            before = await _versions(kit, group.address[1], 60)
            await group.apply(kit.split_config(upstreams, {"v2": 100}))
            after = await _versions(kit, group.address[1], 60)
            snapshot = await group.snapshot()
            each = await group.snapshots()
            text = await group.render_prometheus()
        finally:
            await group.stop(grace=1)
            for upstream in upstreams.values():
                await upstream.stop()
        return {
            "pids": pids,
            "before": before,
            "after": after,
            "snapshot": snapshot,
            "each": [sum(s["versions"]["v1"]["requests"].values()) for s in each],
            "text": text,
            "alive": [_alive(pid) for pid in pids],
        }

    outcome = kit.run(scenario(), timeout=30)
    assert len(set(outcome["pids"])) == 2
    assert outcome["before"] == {"v1"}
    assert outcome["after"] == {"v2"}
    versions = outcome["snapshot"]["versions"]
    assert versions["v1"]["requests"]["2xx"] == 60
    assert versions["v2"]["requests"]["2xx"] == 60
    assert all(served > 0 for served in outcome["each"])  # the kernel used both workers
    assert 'andon_router_requests_total{env="prod",version="v2",class="2xx"} 60' in outcome["text"]
    assert outcome["alive"] == [False, False]


def test_a_taken_port_is_refused_before_any_worker_starts(kit: Any) -> None:
    async def scenario() -> None:
        upstream = await kit.Upstream("v1").start()
        blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = blocker.sockets[0].getsockname()[1]
        try:
            group = RouterWorkers(kit.split_config({"v1": upstream}, {"v1": 100}), count=2)
            with pytest.raises(PortInUseError, match=f"Port {port} on 127.0.0.1 is in use"):
                await group.start("127.0.0.1", port)
            assert group.pids == []
        finally:
            blocker.close()
            await blocker.wait_closed()
            await upstream.stop()

    kit.run(scenario())


async def _versions(kit: Any, port: int, count: int) -> set[str | None]:
    seen = set()
    # New connections each time, so the kernel spreads them over the workers.
    for _ in range(count):
        async with kit.HttpClient(port) as client:
            response = await client.request()
            assert response.status == 200
            seen.add(response.version)
    return seen


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_worker_that_dies_is_replaced_and_the_port_served_meanwhile(kit: Any) -> None:
    async def scenario() -> tuple[set[str | None], int, list[int], set[str | None]]:
        upstream = await kit.Upstream("v1").start()
        group = RouterWorkers(kit.split_config({"v1": upstream}, {"v1": 100}), count=2)
        await group.start("127.0.0.1", 0)
        try:
            first = group.pids
            os.kill(first[0], signal.SIGKILL)
            await asyncio.sleep(0.2)
            meanwhile = await _versions(kit, group.address[1], 20)
            replaced = await group.check()
            after = await _versions(kit, group.address[1], 20)
            return meanwhile, replaced, [pid for pid in group.pids if pid not in first], after
        finally:
            await group.stop(grace=1)
            await upstream.stop()

    meanwhile, replaced, new_pids, after = kit.run(scenario(), timeout=30)
    assert meanwhile == {"v1"}
    assert replaced == 1
    assert len(new_pids) == 1
    assert after == {"v1"}
