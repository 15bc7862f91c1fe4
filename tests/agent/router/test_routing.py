"""The router chooses versions over real sockets: weighted split, stickiness, header and
cookie routes, round-robin over instances, forwarded headers, and config swaps under
load that drop nothing."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from andon.agent.router import (
    Instance,
    InstanceState,
    Route,
    Router,
    RouterConfig,
    Sticky,
    StickyFallback,
    Version,
)
from andon.bucketing import pick


async def _spread(port: int, kit: Any, count: int, clients: int = 8, **request: Any) -> Counter:
    """``count`` requests over ``clients`` keep-alive connections: versions that answered."""
    seen: Counter[str | None] = Counter()

    async def one_client(share: int) -> None:
        async with kit.HttpClient(port) as client:
            for _ in range(share):
                response = await client.request(**request)
                assert response.status == 200
                assert response.body.decode() == response.version
                seen[response.version] += 1

    await asyncio.gather(*(one_client(count // clients) for _ in range(clients)))
    return seen


def test_weights_split_requests_about_90_10(kit: Any) -> None:
    async def scenario() -> Counter:
        stage = await kit.stage({"v1": 90, "v2": 10})
        try:
            return await _spread(stage.port, kit, 1000)
        finally:
            await stage.close()

    seen = kit.run(scenario())
    assert sum(seen.values()) == 1000
    assert 850 <= seen["v1"] <= 950, seen


def test_a_sticky_user_stays_on_the_version_bucketing_gives_them(kit: Any) -> None:
    sticky = Sticky(header="X-User-Id")

    async def scenario() -> dict[str, Counter]:
        stage = await kit.stage({"stable": 90, "canary": 10}, sticky=sticky)
        try:
            return {
                user: await _spread(
                    stage.port, kit, 1000 if user == "user-7" else 40, headers={"X-User-Id": user}
                )
                for user in [f"user-{n}" for n in range(30)]
            }
        finally:
            await stage.close()

    by_user = kit.run(scenario())
    assert by_user["user-7"].total() == 1000
    for user, seen in by_user.items():
        # The same bucketing as flag rollouts, keyed by environment + user.
        expected = pick(f"prod{user}", [("stable", 90), ("canary", 10)])
        assert set(seen) == {expected}, (user, seen)
    assert {version for seen in by_user.values() for version in seen} == {"stable", "canary"}


def test_stickiness_falls_back_to_the_cookie_then_the_client_address(kit: Any) -> None:
    sticky = Sticky(header="X-User-Id", cookie="uid", fallback=StickyFallback.CLIENT_IP)

    async def scenario() -> tuple[set, set, set]:
        stage = await kit.stage({"stable": 50, "canary": 50}, sticky=sticky)
        try:
            by_cookie = await _spread(
                stage.port, kit, 40, clients=4, headers={"Cookie": "theme=dark; uid=user-3"}
            )
            by_address = await _spread(stage.port, kit, 40, clients=4)
            header_wins = await _spread(
                stage.port, kit, 40, clients=4, headers={"X-User-Id": "user-1", "Cookie": "uid=x"}
            )
            return set(by_cookie), set(by_address), set(header_wins)
        finally:
            await stage.close()

    by_cookie, by_address, header_wins = kit.run(scenario())
    weighted = [("stable", 50), ("canary", 50)]
    assert by_cookie == {pick("produser-3", weighted)}
    assert by_address == {pick("prod127.0.0.1", weighted)}
    assert header_wins == {pick("produser-1", weighted)}


def test_header_and_cookie_routes_win_over_weights(kit: Any) -> None:
    routes = (
        Route(version="v2", value="always", header="X-Canary"),
        Route(version="v3", value="beta", cookie="channel"),
    )

    async def scenario() -> list[str | None]:
        stage = await kit.stage({"v1": 100, "v2": 0, "v3": 0}, routes=routes)
        try:
            async with stage.client() as client:
                return [
                    (await client.request(headers=headers)).version
                    for headers in (
                        {"X-Canary": "always"},
                        {"x-canary": "always"},
                        {"X-Canary": "sometimes"},
                        {"Cookie": "a=1; channel=beta"},
                        {},
                    )
                ]
        finally:
            await stage.close()

    assert kit.run(scenario()) == ["v2", "v2", "v1", "v3", "v1"]


def test_with_every_weight_at_0_only_routed_requests_reach_a_version(kit: Any) -> None:
    """A first deploy being smoke-tested: the new version answers its header route only."""
    routes = (Route(version="v2", value="v2", header="X-Andon-Version"),)

    async def scenario() -> list[tuple[int, str | None]]:
        stage = await kit.stage({"v2": 0}, routes=routes)
        try:
            async with stage.client() as client:
                routed = await client.request(headers={"X-Andon-Version": "v2"})
                unrouted = await client.request()
                return [(routed.status, routed.version), (unrouted.status, unrouted.body)]
        finally:
            await stage.close()

    (routed, unrouted) = kit.run(scenario())
    assert routed == (200, "v2")
    assert unrouted[0] == 503 and b"sends no traffic to any version yet" in unrouted[1]


def test_round_robin_skips_instances_that_are_not_ready(kit: Any) -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        upstreams = [await kit.Upstream("v1").start() for _ in range(3)]
        instances = tuple(upstream.instance() for upstream in upstreams)
        router = Router(RouterConfig("prod", (Version("v1", instances, 100),)))
        await router.start()
        try:
            await _spread(router.address[1], kit, 300, clients=1)
            first = [len(upstream.requests) for upstream in upstreams]
            draining = (
                instances[0],
                Instance("127.0.0.1", upstreams[1].port, InstanceState.DRAINING),
                Instance("127.0.0.1", upstreams[2].port, InstanceState.UNHEALTHY),
            )
            router.apply(RouterConfig("prod", (Version("v1", draining, 100),)))
            await _spread(router.address[1], kit, 100, clients=1)
            second = [len(upstream.requests) for upstream in upstreams]
            return first, second
        finally:
            await router.stop()
            for upstream in upstreams:
                await upstream.stop()

    first, second = kit.run(scenario())
    assert first == [100, 100, 100]
    assert second == [200, 100, 100]


def test_requests_carry_forwarded_headers_and_lose_hop_by_hop_ones(kit: Any) -> None:
    async def echo(request: Any, reader: Any, writer: Any) -> bool:
        body = json.dumps(request.headers).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        return True

    async def scenario() -> tuple[dict[str, str], dict[str, str]]:
        stage = await kit.stage({"v1": 100}, handlers={"v1": echo})
        try:
            async with stage.client() as client:
                plain = await client.request(path="/a?b=c")
                proxied = await client.request(
                    headers={
                        "X-Forwarded-For": "203.0.113.9",
                        "X-Forwarded-Proto": "https",
                        "Connection": "keep-alive, X-Secret",
                        "Keep-Alive": "timeout=5",
                        "TE": "trailers",
                    }
                )
                return json.loads(plain.body), json.loads(proxied.body)
        finally:
            await stage.close()

    plain, proxied = kit.run(scenario())
    assert plain["host"] == "shop.test"
    assert plain["x-forwarded-for"] == "127.0.0.1"
    assert plain["x-forwarded-proto"] == "http"
    assert plain["x-forwarded-host"] == "shop.test"
    assert proxied["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert proxied["x-forwarded-proto"] == "http"
    for hop_by_hop in ("connection", "keep-alive", "te"):
        assert hop_by_hop not in proxied


def test_a_hundred_config_changes_under_load_drop_no_request(kit: Any) -> None:
    async def scenario() -> tuple[Counter, int]:
        stage = await kit.stage({"v1": 50, "v2": 50})
        assert stage.router is not None
        statuses: Counter[int] = Counter()
        stop = asyncio.Event()

        async def load() -> None:
            async with stage.client() as client:
                while not stop.is_set():
                    statuses[(await client.request()).status] += 1

        workers = [asyncio.create_task(load()) for _ in range(16)]
        try:
            for change in range(100):
                weight = (change * 7) % 101
                stage.router.apply(
                    kit.split_config(stage.upstreams, {"v1": weight, "v2": 100 - weight})
                )
                await asyncio.sleep(0.005)
            stop.set()
            await asyncio.gather(*workers)
            return statuses, stage.router.pools.open_connections
        finally:
            await stage.close()

    statuses, open_connections = kit.run(scenario())
    assert set(statuses) == {200}, statuses
    assert statuses[200] > 500
    assert open_connections <= 32  # kept-alive connections were reused across configs
