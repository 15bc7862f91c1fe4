"""The flag SDK's promises (docs/flags.md, "The Python SDK") proved end to end against the
real Andon server: uvicorn on 127.0.0.1 serving the real app, store, client tokens, flags
API, SDK endpoints and stream. tests/flags/test_client.py proves each behaviour against a
small fake server; these prove that the SDK and the server keep them together: a change
made through the API served within a second, the last-known set served through a real
outage and a change made during it served within a second of the server's return, the
on-disk set for a client started while the server is down, a forked child that follows
changes, a dependency guard whose flips the server records, and exposures and events
that reach the store."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import select
import signal
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from andon.flags import ErrorCode, Reason
from andon.flags.client import FlagClient
from andon.server import create_app
from andon.server.flag_edits import FlagChange, Who
from andon.settings import Settings
from andon.store import FlagSetContent, Store, open_store
from andon.testing import home_bearer, serve

from .sdk_server import wait_until

PROJECT, ENV = "shop", "prod"
FLAGS = f"/api/v1/projects/{PROJECT}/environments/{ENV}/flags"
EMPLOYEE = {"targetingKey": "u1", "email": "ada@andon-shop.example"}
CUSTOMER = {"targetingKey": "u2", "email": "bob@example.com"}
NEW_CHECKOUT: dict[str, Any] = {
    "variants": {"on": True, "off": False},
    "defaultVariant": "off",
    "targeting": {"if": [{"ends_with": [{"var": "email"}, "@andon-shop.example"]}, "on"]},
}
DOCUMENT: dict[str, Any] = {
    "flags": {
        "new-checkout": NEW_CHECKOUT,
        "banner": {"variants": {"blue": "blue", "red": "red"}, "defaultVariant": "blue"},
    }
}
OUTAGE = 1.5
"""Seconds a server stays away: long enough for the SDK's reconnection backoff to have
grown to its cap (waits of 0.1, 0.2, 0.4 and 0.5 s)."""


class Andon:
    """A real Andon server for project ``shop`` (flag set DOCUMENT in ``prod``) on a fixed
    port, which a test stops and starts again with a new app on the same database; and
    the FlagClients of the test, with a client token and a private cache."""

    def __init__(self, store: Store, settings: Settings, port: int, cache: Path) -> None:
        self.store = store
        self.settings = settings
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.cache = cache
        self.app = self.new_app()
        self.token = ""
        self.clients: list[FlagClient] = []
        self._serving: contextlib.ExitStack | None = None

    def new_app(self) -> FastAPI:
        """Another app on the same store, as a restarted server would be."""
        return create_app(self.settings, self.store, controllers=False)

    def start(self, app: FastAPI | None = None) -> float:
        """Serve ``app`` (default: the current one) and return once it accepts
        connections; answers the monotonic time at which it was started, a few
        milliseconds before (a time measured from it is an upper bound)."""
        self.app = app or self.app
        started = time.monotonic()
        serving = contextlib.ExitStack()
        serving.enter_context(serve(self.app, self.port))
        self._serving = serving
        return started

    def stop(self) -> None:
        """Stop the server: its streams end and its port is closed."""
        if self._serving is not None:
            self._serving.close()
            self._serving = None

    def api(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(
            method,
            f"{self.url}{FLAGS}{path}",
            json=body,
            headers=home_bearer(self.settings),
            timeout=5,
        )
        assert response.is_success, (method, path, response.status_code, response.text)
        return response.json()

    def client(self, **options: Any) -> FlagClient:
        options.setdefault("cache_dir", self.cache)
        options.setdefault("flush_interval", 0.1)
        client = FlagClient(self.url, ENV, self.token, **options)
        self.clients.append(client)
        return client

    def streaming(self, client: str) -> bool:
        """Whether the server has an open stream of SDK client ``client``."""
        return client in self.app.state.flags.streams.connected_clients(PROJECT, ENV)

    def history(self, kind: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.api("GET", "/history")
        return [entry for entry in entries if entry["kind"] == kind]


@pytest.fixture
def andon(andon_home: Path, port: int, tmp_path: Path) -> Iterator[Andon]:
    settings = Settings.from_env()
    with open_store(settings.database_url) as store:
        store.projects.add(
            name=PROJECT, source="/src/shop", subdir="", trunk="main", service="shop",
            commit="a" * 40, spec={"environments": {ENV: {}}},
        )  # fmt: skip
        server = Andon(store, settings, port, tmp_path / "cache")
        server.app.state.flags.change(
            PROJECT, ENV, lambda _: FlagChange(FlagSetContent(document=copy.deepcopy(DOCUMENT)))
        )
        server.start()
        try:
            server.token = server.api("POST", "/tokens", {"name": "web"})["token"]
            yield server
        finally:
            for client in server.clients:
                client.close(timeout=0.5)
            server.stop()


def refused(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def applied(andon: Andon, client: str) -> int | None:
    """The flag-set version SDK client ``client`` last reported it serves."""
    reported = andon.store.flag_events.client(PROJECT, ENV, client)
    return None if reported is None else reported.applied


def applied_at(client: FlagClient, version: int) -> list[float]:
    """Filled with the monotonic time at which ``client`` serves ``version``."""
    times: list[float] = []

    def note(served: int | None, _: frozenset[str]) -> None:
        if served == version:
            times.append(time.monotonic())

    client.on_change(note)
    return times


# -- following changes ----------------------------------------------------------------------


def test_the_sdk_loads_the_set_with_its_token_and_serves_an_api_change_within_a_second(
    andon: Andon,
) -> None:
    client = andon.client()
    assert client.wait_ready(5)
    assert (client.version, client.source) == (1, "server")
    assert client.boolean("new-checkout", False, EMPLOYEE) is True
    assert client.boolean("new-checkout", True, CUSTOMER) is False
    assert client.string("banner", "none") == "blue"
    killed = applied_at(client, 2)
    wait_until(lambda: client.connected and andon.streaming(client.client_id))

    asked = time.monotonic()
    answer = andon.api("POST", "/new-checkout/kill", {"by": "ada", "reason": "orders fall"})
    assert (answer["version"], answer["killed"]) == (2, True)
    wait_until(lambda: killed, timeout=3)
    took = killed[0] - asked
    assert took < 1.0, f"the kill was served {took:.3f} s after it was asked"

    details = client.boolean_details("new-checkout", True, EMPLOYEE)
    assert (details.value, details.variant, details.reason) == (False, "off", Reason.STATIC)
    assert client.connected, "the change came over the open stream"

    def converged() -> dict[str, Any] | None:
        convergence: dict[str, Any] = andon.api("GET", "/new-checkout")["convergence"]
        return convergence if convergence["applied"] else None

    # The SDK reported the version it applied: the flag's view counts it as converged.
    assert wait_until(converged) == {
        "version": 2, "streams": 1, "clients": 1, "applied": 1, "by_version": {"2": 1},
    }  # fmt: skip


def test_through_an_outage_the_sdk_serves_the_last_known_set_and_converges_at_once(
    andon: Andon,
) -> None:
    client = andon.client()
    wait_until(lambda: client.connected and client.version == 1)
    killed = applied_at(client, 2)

    andon.stop()
    down = time.monotonic()
    assert refused(andon.port), "the server still listens"
    wait_until(lambda: not client.connected)
    # A change made while no server runs: written by another app on the same database,
    # as an operator's CLI on a second server would.
    restarted = andon.new_app()
    change = restarted.state.flags.kill(PROJECT, ENV, "new-checkout", Who("ada", "outage"))
    assert change.version == 2
    while time.monotonic() - down < OUTAGE:
        details = client.boolean_details("new-checkout", False, EMPLOYEE)
        assert (details.value, details.reason, client.version) == (True, Reason.TARGETING_MATCH, 1)
        time.sleep(0.05)
    assert refused(andon.port)

    back = andon.start(restarted)
    wait_until(lambda: killed, timeout=5)
    took = killed[0] - back
    # Quiet runs serve it 0.1-0.3 s after (the goal is 1 s); a bound that a suite on two
    # loaded CPUs keeps still tells a client that waits out its slow backoff (FAST_CAP
    # then CAP) from one that retries at once.
    assert took < 2.5, f"the change was served {took:.3f} s after the server came back"
    assert client.boolean("new-checkout", True, EMPLOYEE) is False
    wait_until(lambda: andon.streaming(client.client_id))


def test_a_client_started_while_the_server_is_down_serves_the_set_on_disk(
    andon: Andon, tmp_path: Path
) -> None:
    first = andon.client()
    assert first.wait_ready(5)
    andon.api("POST", "/banner/set", {"variant": "red"})
    wait_until(lambda: first.version == 2)
    first.close()
    andon.stop()
    assert refused(andon.port)

    client = andon.client()
    assert (client.version, client.source) == (2, "cache")
    assert client.string("banner", "none") == "red"
    details = client.boolean_details("new-checkout", False, EMPLOYEE)
    assert (details.value, details.reason) == (True, Reason.TARGETING_MATCH)
    assert client.wait_ready(0.2) is False, "the server never answered it"

    alone = andon.client(cache_dir=tmp_path / "a new machine")
    details = alone.boolean_details("new-checkout", True, EMPLOYEE)
    assert (details.value, details.reason) == (True, Reason.ERROR)
    assert details.error_code == ErrorCode.PROVIDER_NOT_READY
    assert alone.string("banner", "none") == "none"
    assert (alone.ready, alone.version, alone.source) == (False, None, None)


# -- forks ----------------------------------------------------------------------------------


def read_line(fd: int, timeout: float) -> dict[str, Any]:
    line = b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"the child said nothing within {timeout} s")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise AssertionError(f"the child closed the pipe after {line!r}")
        line += chunk
    said: dict[str, Any] = json.loads(line)
    return said


def in_the_child(client: FlagClient, out: int) -> None:  # pragma: no cover - forked
    def say() -> None:
        banner = client.string("banner", "none")
        line = {"version": client.version, "banner": banner, "id": client.client_id}
        os.write(out, json.dumps(line).encode() + b"\n")

    say()
    wait_until(lambda: client.version == 2, timeout=10)
    say()
    client.close(timeout=1)


def end_child(pid: int, timeout: float) -> int:
    """The child's exit code, killed (by its pid) if it has not exited in ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_a_forked_child_keeps_receiving_changes_made_after_the_fork(andon: Andon) -> None:
    client = andon.client()
    wait_until(lambda: client.connected and client.version == 1)
    reading, writing = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12 warns on forking a process with threads: that is the case tested.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            os.close(reading)
            in_the_child(client, writing)
            code = 0
        finally:
            os._exit(code)
    os.close(writing)
    try:
        first = read_line(reading, 5)
        assert (first["version"], first["banner"]) == (1, "blue")
        assert first["id"] != client.client_id
        wait_until(lambda: andon.streaming(first["id"]))
        andon.api("POST", "/banner/set", {"variant": "red"})
        second = read_line(reading, 5)
        assert (second["version"], second["banner"]) == (2, "red")
        wait_until(lambda: client.version == 2)
        assert client.string("banner", "none") == "red"
        wait_until(lambda: applied(andon, first["id"]) == 2)
    finally:
        os.close(reading)
        code = end_child(pid, 5)
    assert code == 0


# -- dependency guards ----------------------------------------------------------------------


def listen(port: int = 0) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def test_a_dependency_guard_falls_back_within_two_seconds_and_the_server_records_its_flips(
    andon: Andon,
) -> None:
    dependency = listen()
    port = dependency.getsockname()[1]
    try:
        guard = {
            "dependency": {"tcp": f"127.0.0.1:{port}"},
            "failures": 3,
            "interval": "1s",
            "fallback": "off",
        }
        put = andon.api("PUT", "/new-checkout", {"flag": NEW_CHECKOUT, "guards": [guard]})
        assert (put["version"], put["guards"]) == (2, [guard])
        client = andon.client()
        wait_until(lambda: client.version == 2)
        assert client.boolean("new-checkout", False, EMPLOYEE) is True

        dependency.close()
        down = time.monotonic()
        wait_until(lambda: not client.boolean("new-checkout", True, EMPLOYEE), timeout=4)
        took = time.monotonic() - down
        assert took < 2.0, f"the guard tripped {took:.3f} s after its dependency went"
        details = client.boolean_details("new-checkout", True, EMPLOYEE)
        assert (details.variant, details.reason) == ("off", Reason.STATIC)
        assert client.string("banner", "none") == "blue", "only the guarded flag falls back"

        tripped = wait_until(lambda: andon.history("guard_tripped"))[0]
        assert (tripped["flag"], tripped["actor"]) == ("new-checkout", f"sdk {client.client_id}")
        assert tripped["evidence"]["dependency"] == f"tcp 127.0.0.1:{port}"
        assert (tripped["evidence"]["failures"], tripped["evidence"]["guard"]) == (3, 0)
        assert tripped["evidence"]["error"] == "connection refused"
        assert tripped["version"] == 2, "a guard flip in an SDK changes no version"
        state = andon.api("GET", "/new-checkout")["guard_states"][0]
        assert (state["state"], state["tripped_clients"]) == ("tripped", [client.client_id])

        dependency = listen(port)
        wait_until(lambda: client.boolean("new-checkout", False, EMPLOYEE), timeout=3)
        restored = wait_until(lambda: andon.history("guard_restored"))[0]
        assert (restored["flag"], restored["evidence"]["guard"]) == ("new-checkout", 0)
        assert restored["actor"] == f"sdk {client.client_id}"
        state = andon.api("GET", "/new-checkout")["guard_states"][0]
        assert (state["state"], state["tripped_clients"]) == ("ok", [])
        assert client.version == 2
    finally:
        dependency.close()


# -- what the SDK reports -------------------------------------------------------------------


def test_exposures_and_tracked_events_reach_the_server(andon: Andon) -> None:
    client = andon.client()
    assert client.wait_ready(5)

    def serve_requests() -> None:  # evaluations from threads, as a web server makes them
        for _ in range(20):
            client.boolean("new-checkout", False, EMPLOYEE)
            client.boolean("new-checkout", False, CUSTOMER)
            client.string("banner", "none", EMPLOYEE)

    workers = [threading.Thread(target=serve_requests) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    client.string("banner", "none", {"email": "x@example.com"})  # no targeting key
    client.track("checkout", EMPLOYEE, 42.5)
    client.track("checkout", {"email": "x@example.com"})  # no targeting key: not sent

    events = andon.store.flag_events
    wait_until(lambda: len(events.exposures(PROJECT, ENV, "new-checkout")) == 2)
    exposed = events.exposures(PROJECT, ENV, "new-checkout")
    assert sorted((e.unit, e.variant) for e in exposed) == [("u1", "on"), ("u2", "off")]
    banner = events.exposures(PROJECT, ENV, "banner")
    assert [(e.unit, e.variant) for e in banner] == [("u1", "blue")]
    converted = wait_until(lambda: events.conversions(PROJECT, ENV, "checkout"))
    assert [unit for unit, _, _ in converted] == ["u1"]
    wait_until(lambda: applied(andon, client.client_id) == 1)
