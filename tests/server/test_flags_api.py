"""The flags API over a real SQLite store: flags set whole and by convenience edits, bad
input refused in its place with nothing stored, kills and restores, the history, conflicts
with what a deploy declares, client tokens kept only as hashes, and the SDK endpoints —
the set with its ETag, events, and the change stream over a real HTTP server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from andon.flags import FlagSet
from andon.server import create_app
from andon.server.flagging import FlagService
from andon.server.running import Server
from andon.settings import Settings
from andon.spec import parse_spec
from andon.store import Store, open_store
from andon.testing import admin_token

FLAGS = "/api/v1/projects/shop/environments/prod/flags"
CHECKOUT = {
    "state": "ENABLED",
    "variants": {"on": True, "off": False},
    "defaultVariant": "off",
    "targeting": {"if": [{"ends_with": [{"var": "email"}, "@shop.example"]}, "on", "off"]},
}
SHOP = """\
service: {name: shop}
processes:
  web: {command: python -m shop}
environments:
  prod: {}
  dev: {}
flags:
  $evaluators:
    dutch: {"==": [{var: country}, NL]}
  flags:
    new-checkout:
      variants: {on: true, off: false}
      defaultVariant: %s
  guards:
    new-checkout:
      - dependency: {tcp: "127.0.0.1:6379"}
        fallback: off
"""


@pytest.fixture
def store(andon_home: Path) -> Iterator[Store]:
    settings = Settings.from_env()
    with open_store(settings.database_url) as opened:
        opened.projects.add(
            name="shop",
            source="/src/shop",
            subdir="",
            trunk="main",
            service="shop",
            commit="a" * 40,
            spec={"service": {"name": "shop"}, "environments": {"prod": {}, "dev": {}}},
        )
        yield opened


@pytest.fixture
def app(store: Store) -> FastAPI:
    return create_app(Settings.from_env(), store, controllers=False)


@pytest.fixture
def client(app: FastAPI, store: Store) -> Iterator[TestClient]:
    with TestClient(app, headers=signed_in(store)) as test_client:
        yield test_client


@dataclass
class Served:
    """The app behind a real HTTP server, as ``andon server`` serves it."""

    url: str
    headers: dict[str, str]
    server: Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive(), "the server did not stop"


@pytest.fixture
def served(app: FastAPI, store: Store, port: int) -> Iterator[Served]:
    """The app on ``port``, its streams' keep-alive every 0.2 s; stopped after the test."""
    app.state.flags.streams.keepalive = 0.2
    server = Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    await_that(lambda: server.started, "the server to start")
    running = Served(f"http://127.0.0.1:{port}", signed_in(store), server, thread)
    yield running
    running.stop()


class Events:
    """Server-Sent Events read one at a time from a streamed response."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.iter_lines()

    def next(self) -> dict[str, str]:
        """The next event's fields, or ``{"comment": ...}`` for a comment line."""
        fields: dict[str, str] = {}
        for line in self._lines:
            if not line:
                if fields:
                    return fields
            elif line.startswith(":"):
                return {"comment": line[1:].strip()}
            else:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        raise EOFError("the stream ended")

    def next_event(self) -> dict[str, str]:
        """The next event, past keep-alive comments."""
        while "comment" in (found := self.next()):
            pass
        return found


def await_that(condition: Any, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def put(client: TestClient | httpx.Client, key: str = "new-checkout", **body: Any) -> Any:
    response = client.put(f"{FLAGS}/{key}", json={"flag": CHECKOUT, "by": "ada", **body})
    assert response.status_code == 200, response.text
    return response.json()


def token(client: TestClient, environment: str = "prod") -> str:
    base = FLAGS.replace("/prod/", f"/{environment}/")
    response = client.post(f"{base}/tokens", json={"name": "web"})
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def signed_in(store: Store) -> dict[str, str]:
    """The admin's header, as the CLI sends it."""
    return bearer(admin_token(Settings.from_env(), store))


def test_a_flag_put_whole_is_listed_and_shown_with_the_new_version(client: TestClient) -> None:
    shown = put(client, reason="launch")

    assert (shown["version"], shown["flag"], shown["guards"]) == (1, CHECKOUT, [])
    assert shown["conflict"] is None and shown["killed"] is False
    listed = client.get(FLAGS).json()
    assert listed["version"] == 1
    assert [(f["key"], f["defaultVariant"], f["targeted"]) for f in listed["flags"]] == [
        ("new-checkout", "off", True)
    ]
    [entry] = client.get(f"{FLAGS}/new-checkout/history").json()
    assert (entry["kind"], entry["actor"], entry["reason"], entry["version"]) == (
        "set",
        "admin",
        "launch",
        1,
    )
    assert (entry["before"], entry["after"]["flag"]) == (None, CHECKOUT)


def test_a_malformed_flag_is_refused_in_its_place_and_nothing_is_stored(
    client: TestClient,
) -> None:
    put(client)
    broken = {**CHECKOUT, "targeting": {"if": [{"inn": [1, 2]}, "on", "off"]}}

    refused = client.put(f"{FLAGS}/new-checkout", json={"flag": broken})

    assert refused.status_code == 422
    error = refused.json()["error"]
    assert "\n" not in error["message"]
    assert any(line.startswith("flags.new-checkout.targeting") for line in error["lines"])
    assert "'inn'" in error["message"]
    assert client.get(FLAGS).json()["version"] == 1
    assert client.get(f"{FLAGS}/new-checkout").json()["flag"] == CHECKOUT


def test_a_guard_with_an_unknown_fallback_is_refused_in_its_place(client: TestClient) -> None:
    guard = {"dependency": {"tcp": "127.0.0.1:6379"}, "fallback": "of"}

    refused = client.put(f"{FLAGS}/new-checkout", json={"flag": CHECKOUT, "guards": [guard]})
    malformed = client.put(
        f"{FLAGS}/new-checkout", json={"flag": CHECKOUT, "guards": [{"fallback": "off"}]}
    )

    assert refused.status_code == 422
    assert refused.json()["error"]["lines"] == [
        "guards.new-checkout[0].fallback: fallback 'of' is not a variant of flag "
        "'new-checkout' (on, off)"
    ]
    assert malformed.status_code == 422
    assert "exactly one of metric or dependency" in malformed.json()["error"]["message"]
    assert client.get(FLAGS).json()["version"] == 0


def test_an_unknown_flag_environment_or_project_is_not_found(client: TestClient) -> None:
    put(client)

    flag = client.get(f"{FLAGS}/old-checkout")
    environment = client.get("/api/v1/projects/shop/environments/prd/flags")
    project = client.get("/api/v1/projects/blog/environments/prod/flags")

    assert flag.status_code == 404
    assert "no flag 'old-checkout'" in flag.json()["error"]["message"]
    assert environment.status_code == 404
    assert "(did you mean 'prod'?)" in environment.json()["error"]["message"]
    assert project.status_code == 404
    assert client.post(f"{FLAGS}/nothing/kill", json={}).status_code == 404


def test_convenience_edits_serve_a_variant_switch_roll_out_and_target_a_segment(
    client: TestClient, app: FastAPI
) -> None:
    put(client)
    service: FlagService = app.state.flags
    service.apply_declared("shop", "prod", parse_spec(SHOP % "off").flags, "deploy")

    def evaluate(context: dict[str, Any]) -> Any:
        response = client.post(f"{FLAGS}/new-checkout/evaluate", json={"context": context})
        return response.json()

    everyone = client.post(f"{FLAGS}/new-checkout/set", json={"variant": "on"}).json()
    assert (everyone["flag"]["defaultVariant"], everyone["flag"]["targeting"]) == ("on", {})
    assert evaluate({})["value"] is True

    off = client.post(f"{FLAGS}/new-checkout/set", json={"on": False}).json()
    assert off["flag"]["state"] == "DISABLED"
    assert evaluate({})["reason"] == "DISABLED"

    client.post(f"{FLAGS}/new-checkout/set", json={"on": True, "rollout": 20})
    served = [evaluate({"targetingKey": f"user-{n}"})["value"] for n in range(200)]
    assert 20 < served.count(True) < 60
    assert evaluate({"targetingKey": "user-7"}) == evaluate({"targetingKey": "user-7"})

    client.post(f"{FLAGS}/new-checkout/set", json={"segment": "dutch"})
    assert evaluate({"country": "NL"})["value"] is True
    assert evaluate({"country": "BE"})["value"] is False

    unknown = client.post(f"{FLAGS}/new-checkout/set", json={"segment": "german"})
    assert unknown.status_code == 400
    assert "no segment 'german'" in unknown.json()["error"]["message"]
    assert client.post(f"{FLAGS}/new-checkout/set", json={}).status_code == 400
    assert client.post(f"{FLAGS}/new-checkout/set", json={"variant": "maybe"}).status_code == 400


def test_a_kill_serves_off_everywhere_and_a_restore_brings_back_what_ran(
    client: TestClient,
) -> None:
    put(client)

    killed = client.post(f"{FLAGS}/new-checkout/kill", json={"by": "bob", "reason": "errors"})

    assert killed.status_code == 200, killed.text
    assert killed.json()["killed"] is True
    assert (killed.json()["flag"]["defaultVariant"], killed.json()["flag"]["targeting"]) == (
        "off",
        {},
    )
    employee = {"context": {"email": "ann@shop.example"}}
    assert client.post(f"{FLAGS}/new-checkout/evaluate", json=employee).json()["value"] is False
    assert client.post(f"{FLAGS}/new-checkout/kill", json={}).json()["version"] == 2

    restored = client.post(f"{FLAGS}/new-checkout/restore", json={"by": "bob"}).json()

    assert (restored["flag"], restored["killed"], restored["version"]) == (CHECKOUT, False, 3)
    assert client.post(f"{FLAGS}/new-checkout/evaluate", json=employee).json()["value"] is True
    again = client.post(f"{FLAGS}/new-checkout/restore", json={})
    assert again.status_code == 409
    assert "is not killed" in again.json()["error"]["message"]
    kinds = [(e["kind"], e["actor"]) for e in client.get(f"{FLAGS}/history").json()]
    assert kinds == [("restored", "admin"), ("killed", "admin"), ("set", "admin")]


def test_a_deploy_leaves_a_flag_changed_by_hand_and_shows_the_conflict(
    client: TestClient, app: FastAPI
) -> None:
    service: FlagService = app.state.flags
    declare = service.apply_declared

    declare("shop", "prod", parse_spec(SHOP % "off").flags, "deploy of aaaa")
    client.post(f"{FLAGS}/new-checkout/set", json={"variant": "on", "by": "ada"})
    declare("shop", "prod", parse_spec(SHOP % "off").flags, "deploy of bbbb")

    shown = client.get(f"{FLAGS}/new-checkout").json()
    assert shown["flag"]["defaultVariant"] == "on"
    assert shown["conflict"]["declared"]["flag"]["defaultVariant"] == "off"
    assert shown["conflict"]["by"] == "deploy of bbbb"
    assert "changed by hand" in shown["conflict"]["message"]
    assert shown["guards"][0]["failures"] == 3
    assert client.get(FLAGS).json()["flags"][0]["conflict"] is True

    declare("shop", "prod", parse_spec(SHOP % "on").flags, "deploy of cccc")
    resolved = client.get(f"{FLAGS}/new-checkout").json()
    assert resolved["conflict"] is None
    assert resolved["declared"]["flag"]["defaultVariant"] == "on"
    declare("shop", "prod", parse_spec(SHOP % "off").flags, "deploy of dddd")
    assert client.get(f"{FLAGS}/new-checkout").json()["flag"]["defaultVariant"] == "off"
    kinds = [e["kind"] for e in client.get(f"{FLAGS}/new-checkout/history").json()]
    assert kinds == ["declared", "set", "declared"]


def test_setting_a_conflicting_flag_again_ends_its_conflict(
    client: TestClient, app: FastAPI
) -> None:
    service: FlagService = app.state.flags
    service.apply_declared("shop", "prod", parse_spec(SHOP % "off").flags, "deploy")
    client.post(f"{FLAGS}/new-checkout/set", json={"variant": "on"})
    service.apply_declared("shop", "prod", parse_spec(SHOP % "on").flags.model_copy(), "d")
    service.apply_declared("shop", "prod", parse_spec(SHOP % "off").flags, "deploy")
    assert client.get(f"{FLAGS}/new-checkout").json()["flag"]["defaultVariant"] == "off"

    client.post(f"{FLAGS}/new-checkout/set", json={"variant": "on"})
    service.apply_declared("shop", "prod", parse_spec(SHOP % "off").flags, "deploy")
    assert client.get(f"{FLAGS}/new-checkout").json()["conflict"] is not None
    client.post(f"{FLAGS}/new-checkout/set", json={"variant": "on"})

    assert client.get(f"{FLAGS}/new-checkout").json()["conflict"] is None


def test_the_flagd_export_loads_in_the_evaluator_without_andons_own_keys(
    client: TestClient, app: FastAPI
) -> None:
    app.state.flags.apply_declared("shop", "prod", parse_spec(SHOP % "off").flags, "deploy")

    exported = client.get(f"{FLAGS}/export?format=flagd").json()

    assert exported["$schema"].startswith("https://flagd.dev/schema/")
    assert set(exported) == {"$schema", "flags", "$evaluators"}
    assert "new-checkout" in FlagSet.from_document(exported, strict=True)
    # flagd's Python provider refuses a whole file where one flag leaves out its state.
    assert all(flag["state"] in ("ENABLED", "DISABLED") for flag in exported["flags"].values())
    assert client.get(f"{FLAGS}/export?format=yaml").status_code == 400


def test_tokens_are_shown_once_and_kept_only_as_hashes(
    client: TestClient, andon_home: Path
) -> None:
    made = client.post(f"{FLAGS}/tokens", json={"name": "checkout web"}).json()

    assert made["token"].startswith("andon_fc_") and len(made["token"]) > 40
    listed = client.get(f"{FLAGS}/tokens").json()
    assert [(t["id"], t["name"], t["revoked_at"]) for t in listed] == [
        (made["id"], "checkout web", None)
    ]
    assert "token" not in listed[0]
    written = b"".join(path.read_bytes() for path in andon_home.glob("andon.db*"))
    assert written and made["token"].encode() not in written
    revoked = client.delete(f"{FLAGS}/tokens/{made['id']}").json()
    assert revoked["revoked_at"] is not None
    assert client.delete(f"{FLAGS}/tokens/999").status_code == 404


def test_the_sdk_endpoints_refuse_requests_without_a_live_token_of_their_environment(
    client: TestClient,
) -> None:
    put(client)
    live, other = token(client), token(client, "dev")
    revoked = client.post(f"{FLAGS}/tokens", json={}).json()
    client.delete(f"{FLAGS}/tokens/{revoked['id']}")

    missing = client.get("/api/v1/sdk/flags")
    unknown = client.get("/api/v1/sdk/flags", headers=bearer("andon_fc_nothing"))
    gone = client.get("/api/v1/sdk/flags", headers=bearer(revoked["token"]))
    elsewhere = client.get("/api/v1/sdk/flags?environment=prod", headers=bearer(other))

    assert [r.status_code for r in (missing, unknown, gone, elsewhere)] == [401, 401, 401, 403]
    for refused in (missing, unknown, gone, elsewhere):
        message = refused.json()["error"]["message"]
        assert message.endswith(".") and "\n" not in message
        assert revoked["token"] not in message and other not in message
    assert "andon flags token create" in missing.json()["error"]["message"]
    assert client.get("/api/v1/sdk/flags", headers=bearer(live)).status_code == 200
    dev = client.get("/api/v1/sdk/flags", headers=bearer(other)).json()
    assert (dev["environment"], dev["version"], dev["flags"]) == ("dev", 0, {"flags": {}})


def test_the_sdk_gets_the_set_with_an_etag_and_304_while_it_has_it(client: TestClient) -> None:
    put(client)
    headers = bearer(token(client))

    first = client.get("/api/v1/sdk/flags", headers=headers)

    assert first.status_code == 200
    assert first.headers["etag"] == '"1"'
    body = first.json()
    assert (body["project"], body["environment"], body["version"]) == ("shop", "prod", 1)
    assert body["flags"]["flags"]["new-checkout"] == CHECKOUT and body["guards"] == {}
    again = client.get("/api/v1/sdk/flags", headers={**headers, "If-None-Match": '"1"'})
    assert (again.status_code, again.content) == (304, b"")
    client.post(f"{FLAGS}/new-checkout/kill", json={})
    changed = client.get("/api/v1/sdk/flags", headers={**headers, "If-None-Match": '"1"'})
    assert (changed.status_code, changed.headers["etag"]) == (200, '"2"')


def test_events_record_exposures_conversions_guard_flips_and_convergence(
    client: TestClient, store: Store
) -> None:
    client.put(
        f"{FLAGS}/new-checkout",
        json={
            "flag": CHECKOUT,
            "guards": [{"dependency": {"tcp": "127.0.0.1:6379"}, "fallback": "off"}],
        },
    )
    headers = bearer(token(client))
    batch = {
        "client": "c-3f2a",
        "applied": 1,
        "exposures": [{"flag": "new-checkout", "variant": "on", "key": "u1", "at": 1764547200.5}],
        "events": [{"name": "checkout", "key": "u1", "at": 1764547201.0, "value": 1}],
        "guards": [
            {
                "flag": "new-checkout",
                "guard": 0,
                "state": "tripped",
                "at": 1764547202.0,
                "evidence": {"failures": 3, "error": "connection refused"},
            }
        ],
    }

    answered = client.post("/api/v1/sdk/events", json=batch, headers=headers)

    assert answered.status_code == 202, answered.text
    assert answered.json()["accepted"] == {"exposures": 1, "events": 1, "guards": 1}
    assert [e.variant for e in store.flag_events.exposures("shop", "prod", "new-checkout")] == [
        "on"
    ]
    assert [c[0] for c in store.flag_events.conversions("shop", "prod", "checkout")] == ["u1"]
    [flip, _] = client.get(f"{FLAGS}/new-checkout/history").json()
    assert (flip["kind"], flip["actor"], flip["version"]) == ("guard_tripped", "sdk c-3f2a", 1)
    assert flip["evidence"]["error"] == "connection refused"
    assert flip["evidence"]["at"] == "2025-12-01T00:00:02Z"
    assert "connection refused" in flip["reason"]
    shown = client.get(f"{FLAGS}/new-checkout").json()
    assert shown["guard_states"][0]["state"] == "tripped"
    assert shown["guard_states"][0]["tripped_clients"] == ["c-3f2a"]
    assert shown["convergence"] == {
        "version": 1,
        "streams": 0,
        "clients": 1,
        "applied": 1,
        "by_version": {"1": 1},
    }
    restored = {**batch["guards"][0], "state": "restored"}  # type: ignore[index]
    client.post(
        "/api/v1/sdk/events", json={"client": "c-3f2a", "guards": [restored]}, headers=headers
    )
    assert client.get(f"{FLAGS}/new-checkout").json()["guard_states"][0]["state"] == "ok"
    assert client.post("/api/v1/sdk/events", json={}, headers=headers).status_code == 202
    bad_time = {"events": [{"name": "checkout", "key": "u1", "at": 1e300}]}
    assert client.post("/api/v1/sdk/events", json=bad_time, headers=headers).status_code == 400


def test_concurrent_sets_each_get_their_own_version(served: Served) -> None:
    with httpx.Client(base_url=served.url, headers=served.headers, timeout=10) as http:
        put(http)

        def flip(n: int) -> int:
            body = {"rollout": n + 1, "by": f"writer {n}"}
            response = http.post(f"{FLAGS}/new-checkout/set", json=body)
            assert response.status_code == 200, response.text
            return int(response.json()["version"])

        with ThreadPoolExecutor(8) as pool:
            versions = list(pool.map(flip, range(16)))
        history = http.get(f"{FLAGS}/new-checkout/history").json()

    assert len(set(versions)) == 16
    assert sorted(entry["version"] for entry in history)[-16:] == list(range(2, 18))


@pytest.fixture
def http(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, headers=served.headers, timeout=5) as opened:
        put(opened)
        yield opened


def stream_headers(http: httpx.Client, **extra: str) -> dict[str, str]:
    made = http.post(f"{FLAGS}/tokens", json={"name": "stream"}).json()
    return {**bearer(made["token"]), **extra}


def test_a_stream_sends_the_set_at_once_and_each_change_as_an_event(http: httpx.Client) -> None:
    headers = stream_headers(http)
    with http.stream("GET", "/api/v1/sdk/stream?client=c-1", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = Events(response)

        first = events.next_event()
        assert (first["id"], first["event"]) == ("1", "flags")
        data = json.loads(first["data"])
        assert (data["version"], data["guards"]) == (1, {})
        assert data["flags"]["flags"]["new-checkout"] == CHECKOUT

        http.post(f"{FLAGS}/new-checkout/kill", json={"reason": "errors"})
        change = events.next_event()

    assert change["id"] == "2"
    assert json.loads(change["data"])["flags"]["flags"]["new-checkout"]["defaultVariant"] == "off"


def test_a_stream_that_has_the_current_version_gets_no_event_until_a_change(
    http: httpx.Client,
) -> None:
    headers = stream_headers(http, **{"Last-Event-ID": "1"})
    with http.stream("GET", "/api/v1/sdk/stream", headers=headers) as response:
        events = Events(response)

        assert events.next() == {"comment": "keep-alive"}
        http.post(f"{FLAGS}/new-checkout/set", json={"variant": "on"})
        change = events.next_event()

    assert change["id"] == "2"


def test_streams_are_counted_and_a_client_that_goes_mid_stream_harms_nothing(
    http: httpx.Client, app: FastAPI
) -> None:
    headers = stream_headers(http)
    streams = app.state.flags.streams
    with http.stream("GET", "/api/v1/sdk/stream?client=c-9", headers=headers) as response:
        events = Events(response)
        events.next_event()
        shown = http.get(f"{FLAGS}/new-checkout").json()
        assert shown["convergence"]["streams"] == 1
        assert shown["convergence"]["clients"] == 1
        assert streams.connected_clients("shop", "prod") == {"c-9"}

    # The client went; the next change wakes no one and the server carries on.
    await_that(lambda: streams.connected("shop", "prod") == 0, "the stream to be dropped")
    assert http.post(f"{FLAGS}/new-checkout/kill", json={}).status_code == 200
    with http.stream("GET", "/api/v1/sdk/stream", headers=headers) as response:
        assert Events(response).next_event()["id"] == "2"


def test_a_stopping_server_ends_its_streams(http: httpx.Client, served: Served) -> None:
    headers = stream_headers(http)
    with http.stream("GET", "/api/v1/sdk/stream", headers=headers) as response:
        events = Events(response)
        events.next_event()

        served.stop()

        with pytest.raises(EOFError):
            events.next_event()
