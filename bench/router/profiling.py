"""The router's hot path without sockets: the Python time one proxied request costs, from
the client's bytes to the response's, with fake transports on both sides (so no system
calls and no event loop), and optionally where it goes (cProfile).

    /work/venv/bin/python bench/router/profiling.py [--requests N] [--profile]

The request is what wrk sends in run.py (Host and a sticky X-User-Id from 1,000 users);
the response is what the benchmark's nginx upstream answers (five headers, a 2-byte body).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from typing import Any

from andon.agent.router import Instance, Router, RouterConfig, Sticky, Version
from andon.agent.router.proxy import ClientConnection
from andon.agent.router.upstream import UpstreamConnection

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nX-User-Id: user-%d\r\n\r\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 30 Nov 2026 23:00:00 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nv1"
)


class FakeTransport:
    """Swallows writes; answers what the router asks of a transport."""

    def write(self, data: bytes) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


async def measure(requests: int, profile: bool) -> float:
    config = RouterConfig(
        env="bench",
        versions=(
            Version("v1", (Instance("127.0.0.1", 9101),), 90),
            Version("v2", (Instance("127.0.0.1", 9102),), 10),
        ),
        sticky=Sticky(header="X-User-Id"),
    )
    router = Router(config)
    for port in (9101, 9102):
        pool = router.pools.get(("127.0.0.1", port))
        upstream = UpstreamConnection(pool)
        upstream.connection_made(FakeTransport())
        pool.give_back(upstream, 0.0)
    client = ClientConnection(router)
    client.connection_made(FakeTransport())
    heads = [REQUEST % n for n in range(1000)]

    def one(n: int) -> None:
        client.data_received(heads[n % 1000])
        exchange = client.current
        assert exchange is not None and exchange.upstream is not None
        exchange.upstream.data_received(RESPONSE)

    for n in range(5000):  # warm up
        one(n)
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    started = time.process_time()
    for n in range(requests):
        one(n)
    elapsed = time.process_time() - started
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    return elapsed / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    per_request = asyncio.run(measure(args.requests, args.profile))
    note = " (inflated by the profiler)" if args.profile else ""
    print(f"{per_request * 1e6:.2f} µs of CPU per proxied request{note}")


if __name__ == "__main__":
    main()
