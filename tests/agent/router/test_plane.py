"""The router as the agent's data plane: a listener per environment with a port, built
from the agent's view (routing settings and serving instances), re-applied on every
change, moved when the port changes, closed when the environment goes."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from andon.agent.data_plane import Backend, EnvironmentView
from andon.agent.router import RouterDataPlane, StickyFallback, config_from_view
from andon.errors import ConfigurationError
from andon.testing import kill_agent_leftovers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _backend(version: str, port: int, process: str = "web") -> Backend:
    return Backend(instance=f"shop-{version}-{port}", version=version, process=process, port=port)


def test_a_view_becomes_a_router_config() -> None:
    view = EnvironmentView(
        name="prod",
        listen_port=8080,
        routing={
            "weights": {"v1": 90, "v2": 10},
            "sticky": {"header": "X-User-Id", "fallback": "random"},
            "routes": [{"header": "X-Canary", "value": "always", "version": "v2"}],
            "mirror": {"version": "v3", "percent": 5},
        },
        backends=(
            _backend("v1", 9001),
            _backend("v1", 9002),
            _backend("v1", 9003, process="worker"),
            _backend("v3", 9004),
        ),
    )
    config = config_from_view(view)
    assert [(v.name, v.weight) for v in config.versions] == [("v1", 90), ("v2", 10), ("v3", 0)]
    assert [i.port for i in config.version("v1").instances] == [9001, 9002]
    assert config.version("v2").instances == ()  # weighted but not running: 503 for its share
    assert config.sticky is not None and config.sticky.fallback is StickyFallback.RANDOM
    assert config.mirror is not None and config.mirror.version == "v3"


def test_a_lone_version_gets_everything_and_nothing_deployed_is_fine() -> None:
    lone = config_from_view(EnvironmentView("prod", 8080, {}, (_backend("v7", 9001),)))
    assert [(v.name, v.weight) for v in lone.versions] == [("v7", 100)]
    assert config_from_view(EnvironmentView("prod", 8080, {}, ())).versions == ()


@pytest.mark.parametrize(
    ("routing", "message"),
    [
        ({}, "runs versions v1, v2 but its routing names no weights"),
        ({"weights": {"v1": 50, "v2": 20}}, "weights sum to 70"),
        ({"weights": {"v1": 100}, "color": "blue"}, "unknown keys ['color']"),
    ],
)
def test_bad_routing_is_refused_with_a_reason(routing: dict[str, Any], message: str) -> None:
    view = EnvironmentView("prod", 8080, routing, (_backend("v1", 9001), _backend("v2", 9002)))
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config_from_view(view)


def test_the_data_plane_follows_the_agent_s_views(kit: Any) -> None:
    async def scenario() -> dict[str, Any]:
        v1 = await kit.Upstream("v1").start()
        v2 = await kit.Upstream("v2").start()
        plane = RouterDataPlane("127.0.0.1")
        port, moved = _free_port(), _free_port()
        backends = (_backend("v1", v1.port), _backend("v2", v2.port))
        seen: dict[str, Any] = {}
        try:
            await plane.apply(EnvironmentView("prod", port, {"weights": {"v1": 100}}, backends))
            seen["first"] = await _version(kit, port)
            await plane.apply(EnvironmentView("prod", port, {"weights": {"v2": 100}}, backends))
            seen["reweighted"] = await _version(kit, port)
            await plane.apply(EnvironmentView("prod", moved, {"weights": {"v2": 100}}, backends))
            seen["moved"] = await _version(kit, moved)
            seen["old_port_open"] = await _accepts(port)
            seen["snapshot"] = await plane.snapshot("prod")
            seen["text"] = await plane.render_prometheus()
            await plane.apply(EnvironmentView("prod", None, {}, backends))
            seen["removed_port_open"] = await _accepts(moved)
        finally:
            await plane.close()
            await v1.stop()
            await v2.stop()
        return seen

    seen = kit.run(scenario())
    assert (seen["first"], seen["reweighted"], seen["moved"]) == ("v1", "v2", "v2")
    assert not seen["old_port_open"]
    assert not seen["removed_port_open"]
    # Counters start afresh on the moved listener.
    assert seen["snapshot"]["versions"]["v2"]["requests"]["2xx"] == 1
    assert seen["text"].count("# TYPE andon_router_requests_total counter") == 1


async def _version(kit: Any, port: int) -> str | None:
    async with kit.HttpClient(port) as client:
        return (await client.request()).version


async def _accepts(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


def test_detached_listeners_outlive_their_plane_and_the_next_plane_takes_them_up(
    kit: Any, tmp_path: Path
) -> None:
    """What an agent does across its own restart: the first plane lets go of its workers,
    the next one takes up those of its environments (same process, counters kept) and
    stops the rest."""

    async def scenario() -> dict[str, Any]:
        v1 = await kit.Upstream("v1").start()
        kept, dropped = _free_port(), _free_port()
        backends = (_backend("v1", v1.port),)
        seen: dict[str, Any] = {}
        first = RouterDataPlane("127.0.0.1", workers=2, state_dir=tmp_path)
        try:
            await first.apply(EnvironmentView("prod", kept, {}, backends))
            await first.apply(EnvironmentView("old", dropped, {}, backends))
            pids = first.pids
            await first.close()
            seen["served_meanwhile"] = (await _version(kit, kept), await _version(kit, dropped))
            second = RouterDataPlane("127.0.0.1", workers=2, state_dir=tmp_path)
            await second.apply(EnvironmentView("prod", kept, {"weights": {"v1": 100}}, backends))
            await second.prune({"prod"})
            seen["same_workers"] = second.pids["prod"] == pids["prod"]
            seen["snapshot"] = await second.snapshot("prod")
            seen["dropped_open"] = await _accepts(dropped)
            seen["none"] = await second.snapshot("old")
            await second.remove("prod")
            seen["kept_open"] = await _accepts(kept)
        finally:
            await v1.stop()
            kill_agent_leftovers(tmp_path)
        return seen

    seen = kit.run(scenario(), timeout=60)
    assert seen["served_meanwhile"] == ("v1", "v1")
    assert seen["same_workers"]
    assert seen["snapshot"]["versions"]["v1"]["requests"]["2xx"] == 1
    assert not seen["dropped_open"] and seen["none"] is None
    assert not seen["kept_open"]
