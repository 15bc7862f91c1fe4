"""The flag SDK against a real HTTP server speaking the SDK endpoints (tests/flags/
sdk_server.py): loading, the stream, reconnecting, the disk cache and bootstraps, forks,
batches of exposures and events, dependency guards, and evaluations that never raise.
The pure parts (the backoff, the event parser, the guard decider) are tested directly."""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from andon.flags import ErrorCode, Reason
from andon.flags._cache import CacheFile
from andon.flags._dependencies import (
    DependencyGuard,
    GuardState,
    assess_check,
    check_dependency,
    decide_next_check,
    read_dependency_guards,
)
from andon.flags._reporting import MAX_BATCH, MAX_PENDING
from andon.flags._streaming import CAP, FAST_CAP, FAST_FOR, EventParser, decide_retry_delay
from andon.flags.client import FlagClient

from .sdk_server import CHECKOUT, TOKEN, SdkServer, running, wait_until

EMPLOYEE = {"targetingKey": "u1", "email": "ada@andon-shop.example"}
CUSTOMER = {"targetingKey": "u2", "email": "bob@example.com"}
ALL_ON = {
    "flags": {
        "new-checkout": {"variants": {"on": True, "off": False}, "defaultVariant": "on"},
        "banner": {"variants": {"blue": "blue", "red": "red"}, "defaultVariant": "red"},
    }
}
ONLY_IN_A_BAD_EVENT = {
    "flags": {"never-served": {"variants": {"on": True}, "defaultVariant": "on"}},
}

MakeClient = Callable[..., FlagClient]


@pytest.fixture
def server() -> Iterator[SdkServer]:
    with running() as server:
        yield server


@pytest.fixture
def dead_url() -> str:
    """The URL of a port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[MakeClient]:
    """FlagClients for environment prod with a private cache; closed after the test."""
    clients: list[FlagClient] = []

    def make(url: str | None, **options: Any) -> FlagClient:
        options.setdefault("cache_dir", tmp_path / "cache")
        options.setdefault("flush_interval", 0.1)
        client = FlagClient(url, "prod", TOKEN, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close(timeout=0.5)


def flag_loads(server: SdkServer) -> int:
    return server.requests.count(("GET", "/api/v1/sdk/flags"))


# -- loading and following ----------------------------------------------------------------


def test_the_client_loads_the_flag_set_and_evaluates_locally(
    server: SdkServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    assert client.wait_ready(5)
    assert (client.version, client.source, client.ready) == (1, "server", True)
    loads = flag_loads(server)
    for _ in range(200):
        assert client.boolean("new-checkout", False, EMPLOYEE) is True
        assert client.boolean("new-checkout", True, CUSTOMER) is False
    assert client.string("banner", "none") == "blue"
    details = client.boolean_details("new-checkout", False, EMPLOYEE)
    assert (details.variant, details.reason) == ("on", Reason.TARGETING_MATCH)
    assert flag_loads(server) == loads, "an evaluation made a request"


def test_a_change_arrives_over_the_stream_and_is_applied(
    server: SdkServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    changes: list[tuple[int | None, frozenset[str]]] = []
    client.on_change(lambda version, keys: changes.append((version, keys)))
    wait_until(lambda: client.connected)
    server.publish(ALL_ON)
    wait_until(lambda: client.version == 2)
    assert client.boolean("new-checkout", False, CUSTOMER) is True
    assert client.string("banner", "none") == "red"
    wait_until(lambda: changes[-1][0] == 2)
    assert changes[-1] == (2, frozenset({"new-checkout", "banner"}))
    assert flag_loads(server) == 1, "the change came over the stream, not a reload"
    assert server.streams == [(client.client_id, "1")]


def test_a_stream_cut_mid_event_drops_the_event_and_the_client_converges(
    server: SdkServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    served: list[frozenset[str]] = []
    client.on_change(lambda version, keys: served.append(keys))
    wait_until(lambda: client.connected)
    server.cut_streams(ONLY_IN_A_BAD_EVENT)
    wait_until(lambda: len(server.streams) == 2 and client.connected)
    assert client.version == 1
    assert client.boolean_details("never-served", False).error_code == ErrorCode.FLAG_NOT_FOUND
    server.publish(ALL_ON)
    wait_until(lambda: client.version == 2)
    assert client.boolean("new-checkout", False, CUSTOMER) is True
    assert not any("never-served" in keys for keys in served)
    assert server.streams[1] == (client.client_id, "1"), "it resumed from the version it had"


def test_an_older_or_equal_version_never_replaces_a_newer_one(
    server: SdkServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    wait_until(lambda: client.connected)
    server.publish(ALL_ON)
    wait_until(lambda: client.version == 2)
    server.send_raw(1, ONLY_IN_A_BAD_EVENT)
    server.send_raw(2, ONLY_IN_A_BAD_EVENT)
    server.publish(CHECKOUT)
    # Events arrive in order: once version 3 is served, the stale ones were read.
    wait_until(lambda: client.version == 3)
    assert client.boolean_details("never-served", False).error_code == ErrorCode.FLAG_NOT_FOUND
    assert client.boolean("new-checkout", True, CUSTOMER) is False


def test_keep_alive_comments_keep_the_stream_open(
    server: SdkServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    wait_until(lambda: client.connected)
    wait_until(lambda: server.keepalives >= 3)
    assert client.connected
    assert len(server.streams) == 1


def test_a_flag_set_of_another_environment_is_refused(
    server: SdkServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with FlagClient(server.url, "staging", TOKEN, cache_dir=tmp_path) as client:
        wait_until(lambda: "environment 'prod'" in caplog.text)
        assert client.version is None
        details = client.boolean_details("new-checkout", False, EMPLOYEE)
        assert details.error_code == ErrorCode.PROVIDER_NOT_READY


# -- when the server is away --------------------------------------------------------------


def test_the_client_starts_from_its_cache_when_the_server_is_down(
    server: SdkServer, make_client: MakeClient
) -> None:
    first = make_client(server.url)
    assert first.wait_ready(5)
    first.close()
    server.stop()
    client = make_client(server.url)
    assert (client.version, client.source) == (1, "cache")
    assert client.boolean("new-checkout", False, EMPLOYEE) is True
    assert client.wait_ready(0.1) is False


BOOTSTRAP_PAYLOAD = {"version": 7, "flags": ALL_ON, "guards": {}}


@pytest.mark.parametrize(
    ("kind", "expected_version"),
    [("flagd dict", None), ("payload dict", 7), ("json file", 7), ("yaml file", None)],
)
def test_the_client_starts_from_its_bootstrap_with_no_server_and_no_cache(
    dead_url: str, make_client: MakeClient, tmp_path: Path, kind: str, expected_version: int | None
) -> None:
    bootstrap: Any = {
        "flagd dict": ALL_ON,
        "payload dict": BOOTSTRAP_PAYLOAD,
        "json file": tmp_path / "flags.json",
        "yaml file": tmp_path / "flags.yaml",
    }[kind]
    (tmp_path / "flags.json").write_text(json.dumps(BOOTSTRAP_PAYLOAD))
    (tmp_path / "flags.yaml").write_text(
        "flags:\n  banner: {variants: {blue: blue, red: red}, defaultVariant: red}\n"
        "  new-checkout: {variants: {'on': true, 'off': false}, defaultVariant: 'on'}\n"
    )
    client = make_client(dead_url, bootstrap=bootstrap)
    assert (client.version, client.source) == (expected_version, "bootstrap")
    assert client.boolean("new-checkout", False, CUSTOMER) is True
    assert client.string("banner", "none") == "red"


def test_with_neither_server_cache_nor_bootstrap_evaluations_answer_the_default(
    dead_url: str, make_client: MakeClient
) -> None:
    client = make_client(dead_url)
    details = client.boolean_details("new-checkout", True, EMPLOYEE)
    assert (details.value, details.reason) == (True, Reason.ERROR)
    assert details.error_code == ErrorCode.PROVIDER_NOT_READY
    assert client.string("banner", "fallback") == "fallback"
    assert (client.ready, client.version) == (False, None)


def test_a_corrupt_cache_is_ignored_with_a_warning(
    dead_url: str,
    server: SdkServer,
    make_client: MakeClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for url in (dead_url, server.url):
        cache = CacheFile(tmp_path / "cache", url=url, environment="prod", token=TOKEN)
        cache.path.parent.mkdir(parents=True, exist_ok=True)
        cache.path.write_text('{"format": 1, "version": 3, "flags": {"fl')
    caplog.set_level(logging.WARNING, logger="andon.flags.client")
    offline = make_client(dead_url, bootstrap=ALL_ON)
    assert "ignored the flag cache" in caplog.text
    assert offline.source == "bootstrap"
    online = make_client(server.url)
    assert online.wait_ready(5)
    # Once the server has answered, the cache is whole again.
    wait_until(lambda: b'"version":1' in cache.path.read_bytes())
    assert not list(cache.path.parent.glob("*.tmp")), "a temporary file was left behind"


def test_the_client_keeps_serving_the_last_known_set_while_the_server_is_down(
    server: SdkServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    wait_until(lambda: client.connected)
    server.stop()
    wait_until(lambda: not client.connected)
    details = client.boolean_details("new-checkout", False, EMPLOYEE)
    assert (details.value, details.reason, client.version) == (True, Reason.TARGETING_MATCH, 1)


def test_the_client_converges_within_a_second_when_the_server_comes_back(
    server: SdkServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    wait_until(lambda: client.connected)
    server.stop()
    wait_until(lambda: not client.connected)
    # Not a condition to wait for: the outage must last long enough for the backoff to
    # have grown to its cap (0.1 + 0.2 + 0.4 + 0.5 s of waits).
    time.sleep(2.5)
    server.publish(ALL_ON)
    server.start()
    back = time.monotonic()
    wait_until(lambda: client.version == 2, timeout=3)
    assert time.monotonic() - back < 1.0


# -- forks --------------------------------------------------------------------------------


def _read_line(fd: int, timeout: float) -> dict[str, Any]:
    line = b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"the child said nothing within {timeout} s")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise AssertionError("the child closed the pipe without a word")
        line += chunk
    result: dict[str, Any] = json.loads(line)
    return result


def _child(client: FlagClient, out: int) -> None:
    def say(**fields: Any) -> None:
        os.write(out, json.dumps(fields).encode() + b"\n")

    say(version=client.version, banner=client.string("banner", "none"), id=client.client_id)
    wait_until(lambda: client.version == 2, timeout=10)
    say(version=client.version, banner=client.string("banner", "none"), id=client.client_id)
    client.close(timeout=1)


def test_a_forked_child_keeps_serving_and_follows_changes_on_its_own(
    server: SdkServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    wait_until(lambda: client.connected)
    reading, writing = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12 warns on forking a process with threads: that is the case tested.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            os.close(reading)
            _child(client, writing)
            code = 0
        finally:
            os._exit(code)
    os.close(writing)
    try:
        first = _read_line(reading, 5)
        assert (first["version"], first["banner"]) == (1, "blue")
        assert first["id"] != client.client_id
        wait_until(lambda: any(who == first["id"] for who, _ in server.streams))
        server.publish(ALL_ON)
        second = _read_line(reading, 5)
        assert (second["version"], second["banner"]) == (2, "red")
        wait_until(lambda: client.version == 2)
        wait_until(lambda: 2 in server.applied(first["id"]))
    finally:
        os.close(reading)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


# -- batches ------------------------------------------------------------------------------


def test_exposures_events_and_the_applied_version_arrive_in_batches(
    server: SdkServer, make_client: MakeClient
) -> None:
    client = make_client(server.url, flush_interval=60)
    assert client.wait_ready(5)
    wait_until(lambda: server.applied(client.client_id) == [1])
    for _ in range(50):
        client.boolean("new-checkout", False, EMPLOYEE)
        client.boolean("new-checkout", False, CUSTOMER)
        client.string("banner", "none", EMPLOYEE)
        client.string("banner", "none", {"country": "NL"})  # no targeting key
    client.string("missing", "none", EMPLOYEE)  # no variant: nothing was exposed
    client.track("checkout", EMPLOYEE, 42.5)
    client.track("checkout", {"country": "NL"})  # no targeting key: not sent
    # With a minute between batches, only the new version can send them now: it is
    # reported at once, with everything that waits.
    server.publish(ALL_ON)
    wait_until(lambda: 2 in server.applied(client.client_id))
    wait_until(server.events)
    assert {batch["client"] for batch in server.batches} == {client.client_id}
    assert sorted((e["flag"], e["key"], e["variant"]) for e in server.exposures()) == [
        ("banner", "u1", "blue"),
        ("new-checkout", "u1", "on"),
        ("new-checkout", "u2", "off"),
    ]
    assert [(e["name"], e["key"], e["value"]) for e in server.events()] == [
        ("checkout", "u1", 42.5)
    ]
    assert all(isinstance(e["at"], float) for e in server.exposures() + server.events())


def test_a_full_batch_goes_before_the_interval(server: SdkServer, make_client: MakeClient) -> None:
    client = make_client(server.url, flush_interval=60)
    assert client.wait_ready(5)
    for number in range(MAX_BATCH + 100):
        client.boolean("new-checkout", False, {"targetingKey": f"user-{number}"})
    # Well within the 60 s interval, however loaded the machine.
    wait_until(lambda: len(server.exposures()) >= MAX_BATCH, timeout=30)
    assert all(len(batch.get("exposures", [])) <= MAX_BATCH for batch in server.batches)


def test_a_failed_send_is_retried_and_what_waits_is_bounded(
    server: SdkServer, make_client: MakeClient
) -> None:
    server.events_status = 503
    client = make_client(server.url, flush_interval=0.05)
    assert client.wait_ready(5)
    client.track("checkout", EMPLOYEE, 1)
    for number in range(MAX_PENDING + 2_000):
        client.boolean("new-checkout", False, {"targetingKey": number})
    wait_until(lambda: client.dropped > 0)
    server.events_status = 202
    wait_until(server.events)
    assert [event["name"] for event in server.events()] == ["checkout"]
    wait_until(lambda: len(server.exposures()) >= MAX_PENDING)
    assert len(server.exposures()) <= MAX_PENDING + MAX_BATCH
    assert all(len(batch.get("exposures", [])) <= MAX_BATCH for batch in server.batches)


# -- dependency guards --------------------------------------------------------------------


def _listen(port: int = 0) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def test_a_dependency_guard_trips_within_two_seconds_and_restores(
    server: SdkServer, make_client: MakeClient
) -> None:
    dependency = _listen()
    port = dependency.getsockname()[1]
    guards = {
        "new-checkout": [
            {"metric": {"provider": "router", "query": "error_rate", "max": "2%"}, "window": "1m"},
            {
                "dependency": {"tcp": f"127.0.0.1:{port}"},
                "failures": 3,
                "interval": "1s",
                "fallback": "off",
            },
        ]
    }
    server.publish(ALL_ON, guards)
    client = make_client(server.url)
    wait_until(lambda: client.version == 2)
    assert client.boolean("new-checkout", False, EMPLOYEE) is True
    dependency.close()
    down = time.monotonic()
    wait_until(lambda: not client.boolean("new-checkout", True, EMPLOYEE), timeout=4)
    assert time.monotonic() - down < 2.0
    details = client.boolean_details("new-checkout", True, EMPLOYEE)
    assert (details.variant, details.reason) == ("off", Reason.STATIC)
    assert details.flag_metadata["guardTripped"] == f"tcp 127.0.0.1:{port}"
    assert client.string("banner", "none") == "red", "only the guarded flag falls back"
    tripped = wait_until(server.flips)[0]
    assert (tripped["flag"], tripped["guard"], tripped["state"]) == ("new-checkout", 1, "tripped")
    assert tripped["evidence"]["failures"] == 3
    assert tripped["evidence"]["error"] == "connection refused"

    dependency = _listen(port)
    try:
        wait_until(lambda: client.boolean("new-checkout", False, EMPLOYEE), timeout=3)
        wait_until(lambda: len(server.flips()) == 2)
        assert server.flips()[1]["state"] == "restored"
        assert client.version == 2, "a guard flip is local: the version stays"
    finally:
        dependency.close()


# -- evaluations that never raise ---------------------------------------------------------


class _Exploding(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        raise RuntimeError("boom")


HUGE = {f"attribute-{number}": "x" * 100 for number in range(100_000)}
BAD_CONTEXTS = [
    "a string",
    42,
    ["a", "list"],
    object(),
    {"targetingKey": ["not", "hashable"], "email": {"nested": True}},
    {"targetingKey": 7, "email": 3.5},
    {"targetingKey": None, "email": None},
    {**HUGE, "targetingKey": "u" * 100_000, "email": "ada@andon-shop.example"},
    _Exploding(),
]


@pytest.mark.parametrize("context", BAD_CONTEXTS, ids=lambda context: type(context).__name__)
def test_an_evaluation_never_raises_whatever_the_context(
    server: SdkServer, make_client: MakeClient, context: Any
) -> None:
    client = make_client(server.url)
    assert client.wait_ready(5)
    assert isinstance(client.boolean("new-checkout", False, context), bool)
    assert isinstance(client.string("banner", "none", context), str)
    assert client.integer("banner", 3, context) == 3
    assert client.float("banner", 0.5, context) == 0.5
    assert client.object("banner", {"a": 1}, context) == {"a": 1}
    client.track("checkout", context, value=float("nan"))


def test_a_bad_key_or_default_answers_the_default_with_reason_error(
    server: SdkServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    assert client.wait_ready(5)
    bad_key: Any = ["not", "a", "key"]
    details = client.boolean_details(bad_key, True, EMPLOYEE)
    assert (details.value, details.reason) == (True, Reason.ERROR)
    assert client.object("missing", {"unhashable": []}) == {"unhashable": []}
    mismatch = client.integer_details("new-checkout", 7, EMPLOYEE)
    assert (mismatch.value, mismatch.error_code) == (7, ErrorCode.TYPE_MISMATCH)


def test_a_broken_flag_answers_the_default_and_the_others_work(
    server: SdkServer, make_client: MakeClient
) -> None:
    broken = {
        "flags": {
            **ALL_ON["flags"],
            "broken": {"variants": {"on": True}, "defaultVariant": "on", "targeting": {"inn": []}},
        }
    }
    server.publish(broken)
    client = make_client(server.url)
    wait_until(lambda: client.version == 2)
    details = client.boolean_details("broken", False, EMPLOYEE)
    assert (details.value, details.error_code) == (False, ErrorCode.PARSE_ERROR)
    assert client.boolean("new-checkout", False, EMPLOYEE) is True


def test_an_offline_client_serves_its_bootstrap_alone(make_client: MakeClient) -> None:
    client = make_client(None, bootstrap=ALL_ON)
    assert client.boolean("new-checkout", False, CUSTOMER) is True
    assert not client.connected
    client.track("checkout", EMPLOYEE)


def test_importing_the_client_leaves_the_server_and_openfeature_out() -> None:
    heavy = ("pydantic", "fastapi", "sqlalchemy", "andon.spec", "andon.server", "andon.store")
    code = (
        "import sys, andon.flags.client\n"
        f"print(sorted(m for m in {(*heavy, 'openfeature')!r} if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


# -- pure parts ---------------------------------------------------------------------------


@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.999])
def test_while_the_server_refuses_connections_the_backoff_stays_under_a_second(
    jitter: float,
) -> None:
    delays = [
        decide_retry_delay(
            attempt, down_for=attempt * 0.5, refused=True, retry_after=None, jitter=jitter
        )
        for attempt in range(30)
    ]
    assert delays[0] <= 0.1
    assert max(delays) <= FAST_CAP < 1.0
    assert delays == sorted(delays), "the wait grows with every attempt"


def test_the_backoff_grows_to_its_cap_when_the_server_errs_or_stays_away() -> None:
    def delay(attempt: int, **facts: Any) -> float:
        options = {"down_for": 1.0, "refused": False, "retry_after": None, "jitter": 0.999}
        return decide_retry_delay(attempt, **{**options, **facts})

    assert CAP * 0.99 < delay(20) <= CAP
    assert CAP * 0.99 < delay(20, refused=True, down_for=FAST_FOR + 1) <= CAP
    assert delay(0, retry_after=3.0) == 3.0
    assert delay(0, retry_after=3600.0) == CAP
    assert decide_retry_delay(0, down_for=0, refused=False, retry_after=None, jitter=0) == 0.05


def test_the_event_parser_dispatches_only_complete_events() -> None:
    lines = [
        ": keep-alive",
        "",
        "id: 42",
        "event: flags",
        'data: {"version":',
        "data:42}",
        "",
        "retry: 100",
        "data: plain",
        "",
        "id: 43",
        "event: flags",
        'data: {"version": 43}',
    ]
    events = list(EventParser().events(lines))
    assert [(e.event, e.data, e.id) for e in events] == [
        ("flags", '{"version":\n42}', "42"),
        ("message", "plain", "42"),
    ]


GUARD = DependencyGuard("f", 1, "tcp", "127.0.0.1:1", failures=3, interval=1.0, fallback="off")


def test_a_guard_trips_after_consecutive_failures_and_restores_at_the_first_success() -> None:
    state, flips = GuardState(), []
    for error in ["refused", None, "refused", "refused", "refused", "refused", None, None]:
        state, flip = assess_check(GUARD, state, error)
        flips.append(flip)
    assert flips == [None, None, None, None, "tripped", None, "restored", None]


def test_a_failing_dependency_is_confirmed_fast_enough_to_trip_within_two_seconds() -> None:
    # The worst case: the dependency goes down just after a healthy check.
    state, elapsed = GuardState(), decide_next_check(GUARD, GuardState())
    while True:
        state, flip = assess_check(GUARD, state, "refused")
        if flip == "tripped":
            break
        elapsed += decide_next_check(GUARD, state)
    assert elapsed < 2.0
    assert decide_next_check(GUARD, state) == GUARD.interval


def test_an_http_dependency_is_healthy_while_it_answers_2xx(server: SdkServer) -> None:
    def guard(path: str) -> DependencyGuard:
        return DependencyGuard("f", 0, "http", server.url + path, 3, 1.0, "off")

    assert check_dependency(guard("/health")) is None
    assert check_dependency(guard("/api/v1/sdk/flags")) == "it answered HTTP 401"
    server.stop()
    assert check_dependency(guard("/health")) is not None


def test_only_readable_dependency_guards_are_watched(caplog: pytest.LogCaptureFixture) -> None:
    document = {"flags": {"f": {"variants": {"on": True, "off": False}, "defaultVariant": "on"}}}
    guards = {
        "f": [
            {"metric": {"provider": "router", "query": "error_rate", "max": "2%"}},
            {"dependency": {"tcp": "db:5432"}, "interval": 0.5, "fallback": False},
            {"dependency": {"tcp": "db:5432"}, "interval": "1m30s", "fallback": "on"},
            {"dependency": {"tcp": "db"}, "fallback": "off"},
            {"dependency": {"http": "http://payments/health"}, "interval": "soon"},
            {"dependency": {"http": "http://payments/health"}, "fallback": "maybe"},
        ],
        "not-a-flag": [{"dependency": {"tcp": "db:5432"}, "fallback": "off"}],
    }
    assert list(read_dependency_guards(guards, document)) == [
        DependencyGuard("f", 1, "tcp", "db:5432", failures=3, interval=0.5, fallback="off"),
        DependencyGuard("f", 2, "tcp", "db:5432", failures=3, interval=90.0, fallback="on"),
    ]
    assert caplog.text.count("ignored guard") == 3
