"""Mirroring sends a copy of a share of requests to another version and throws its answers
away; a slow or broken mirror neither slows nor breaks the client."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from typing import Any

from andon.agent.router import Instance, Limits, Mirror, Router, RouterConfig, Version


def test_the_mirror_sees_its_share_and_the_client_only_the_primary(kit: Any) -> None:
    async def scenario() -> tuple[Counter, int, int, list[int], dict]:
        stage = await kit.stage({"v1": 100, "v2": 0}, mirror=Mirror(version="v2", percent=20))
        assert stage.router is not None
        answered: Counter[tuple[str | None, bytes]] = Counter()
        try:
            async with stage.client() as client:
                for n in range(500):
                    body = b"order %d" % n if n % 2 else b""
                    response = await client.request("POST" if body else "GET", body=body)
                    answered[(response.version, response.body)] += 1
            await asyncio.sleep(0.1)
            mirrored = stage.upstreams["v2"].requests
            sizes = [request.body_size for request in mirrored if request.method == "POST"]
            return (
                answered,
                len(stage.upstreams["v1"].requests),
                len(mirrored),
                sizes,
                stage.router.metrics.snapshot()["versions"]["v2"]["mirror"],
            )
        finally:
            await stage.close()

    answered, primary, mirrored, sizes, counted = kit.run(scenario())
    assert answered == {("v1", b"v1"): 500}
    assert primary == 500
    assert mirrored == 100  # every fifth request, exactly
    assert sizes and all(size >= len(b"order 1") for size in sizes)
    assert counted["2xx"] == 100


def test_a_slow_mirror_does_not_slow_the_client(kit: Any) -> None:
    async def slow(request: Any, reader: Any, writer: Any) -> bool:
        await asyncio.sleep(3)
        return False

    async def scenario() -> tuple[float, Counter, dict]:
        stage = await kit.stage(
            {"v1": 100, "v2": 0},
            handlers={"v2": slow},
            mirror=Mirror(version="v2", percent=50),
            limits=Limits(max_mirrors_in_flight=8),
        )
        assert stage.router is not None
        statuses: Counter[int] = Counter()
        try:
            started = time.monotonic()
            async with stage.client() as client:
                for _ in range(200):
                    statuses[(await client.request()).status] += 1
            elapsed = time.monotonic() - started
            return elapsed, statuses, stage.router.metrics.snapshot()["versions"]["v2"]["mirror"]
        finally:
            await stage.close()

    elapsed, statuses, mirror = kit.run(scenario())
    assert statuses == {200: 200}
    assert elapsed < 2.0
    assert mirror["dropped"] == 100 - 8  # at most 8 copies in flight


def test_a_broken_mirror_does_not_break_the_client(kit: Any) -> None:
    async def scenario() -> tuple[Counter, dict, int]:
        upstream = await kit.Upstream("v1").start()
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            dead = Instance("127.0.0.1", closed.getsockname()[1])
        config = RouterConfig(
            "prod",
            (Version("v1", (upstream.instance(),), 100), Version("v2", (dead,), 0)),
            mirror=Mirror("v2", 100),
        )
        router = Router(config)
        await router.start()
        statuses: Counter[int] = Counter()
        try:
            async with kit.HttpClient(router.address[1]) as client:
                for _ in range(50):
                    statuses[(await client.request()).status] += 1
            await asyncio.sleep(0.1)
            return (
                statuses,
                router.metrics.snapshot()["versions"]["v2"]["mirror"],
                len(router.mirroring.copies),
            )
        finally:
            await router.stop()
            await upstream.stop()

    statuses, mirror, in_flight = kit.run(scenario())
    assert statuses == {200: 50}
    assert mirror["failed"] == 50
    assert in_flight == 0
