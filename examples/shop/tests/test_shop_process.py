"""`python -m shop` as a real process: configured by env, graceful on SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from shop import metrics, migrate, seed
from shop.__main__ import listen_address
from shop.client import Client, Reply

SHOP_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.01)  # poll interval, not a wait for something to happen


@pytest.mark.e2e
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_server_finishes_in_flight_requests_and_exits_0_on_signal(
    tmp_path: Path, signum: signal.Signals
) -> None:
    database = tmp_path / "shop.db"
    migrate.apply(database, migrate.discover())
    seed.seed(database)
    config = tmp_path / "shop.toml"
    # Added latency keeps one request in flight long enough to signal during it.
    config.write_text(
        f"[database]\npath = {str(database)!r}\n[faults]\nadded_latency_ms = 300\n",
        encoding="utf-8",
    )
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "SHOP_CONFIG": str(config),
        "ANDON_VERSION": "1.2.3",
    }
    client = Client(f"http://127.0.0.1:{port}", timeout=5)
    log_path = tmp_path / "server.log"
    slow_replies: list[Reply] = []

    with (
        log_path.open("w", encoding="utf-8") as log,
        subprocess.Popen(
            [sys.executable, "-m", "shop"],
            cwd=SHOP_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        ) as process,
    ):
        try:

            def healthy() -> bool:
                if process.poll() is not None:
                    raise AssertionError(f"server exited early:\n{log_path.read_text()}")
                try:
                    return client.get("/healthz").status == 200
                except OSError:
                    return False

            wait_until(healthy)
            assert client.get("/healthz").json() == {"status": "ok", "version": "1.2.3"}

            slow = threading.Thread(target=lambda: slow_replies.append(client.get("/products")))
            slow.start()

            def slow_request_in_flight() -> bool:
                # The scrape itself is one request in flight; the slow one makes two.
                samples = metrics.parse(client.get("/metrics").text)
                return (samples.get("shop_http_requests_in_flight") or 0) >= 2

            wait_until(slow_request_in_flight)
            process.send_signal(signum)
            slow.join(timeout=10)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert [reply.status for reply in slow_replies] == [200]
    assert len(slow_replies[0].json()["products"]) == 8
    log_text = log_path.read_text(encoding="utf-8")
    assert f"received {signum.name}; finishing in-flight requests" in log_text
    assert '"GET /products" 200' in log_text
    assert "fault injection active: added_latency_ms=300" in log_text
    assert "Traceback" not in log_text
    with pytest.raises(OSError):
        client.get("/healthz")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ("127.0.0.1", 8080)),
        ({"PORT": "0", "HOST": "0.0.0.0"}, ("0.0.0.0", 0)),
        ({"PORT": "9000"}, ("127.0.0.1", 9000)),
    ],
)
def test_listen_address_from_environment(
    environ: dict[str, str], expected: tuple[str, int]
) -> None:
    assert listen_address(environ) == expected


@pytest.mark.parametrize("port", ["http", "-1", "65536", ""])
def test_bad_port_is_refused(port: str) -> None:
    with pytest.raises(ValueError, match="PORT must be a whole number from 0 to 65535"):
        listen_address({"PORT": port})
