"""The dashboard's live streams over real HTTP (uvicorn in a thread, as the server runs
it): a stream ends when its browser goes, and an open stream does not hold a stopping
server."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from andon.server import create_app
from andon.settings import Settings
from andon.store import Store, open_store
from andon.testing import admin_token, serve


@pytest.fixture
def store(andon_home: Path) -> Iterator[Store]:
    with open_store(Settings.from_env().database_url) as opened:
        yield opened


def signed_in(url: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=10)
    form = client.get("/signin").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    answer = client.post("/signin", data={"csrf": csrf.group(1), "token": token})
    assert answer.status_code == 303, answer.text
    return client


def first_event(lines: Iterator[str]) -> str:
    """The name of the next event; the caller keeps ``lines`` (and so the stream) open."""
    for line in lines:
        if line.startswith("event: "):
            return line.removeprefix("event: ")
    raise AssertionError("the stream ended without an event")


def test_a_stream_ends_when_its_browser_goes(store: Store, port: int) -> None:
    settings = Settings.from_env()
    app = create_app(settings, store, controllers=False)
    streams = app.state.dashboard_streams
    streams.interval = 0.05
    with serve(app, port) as url:
        client = signed_in(url, admin_token(settings, store))
        with closing(client), client.stream("GET", "/events/line") as stream:
            lines = stream.iter_lines()
            assert first_event(lines) == "line"
            time.sleep(0.3)  # several looks: the stream stays open while its browser does
            assert streams.open == 1
        deadline = time.monotonic() + 5
        while streams.open and time.monotonic() < deadline:
            time.sleep(0.05)
        assert streams.open == 0


def test_an_open_stream_does_not_hold_a_stopping_server(store: Store, port: int) -> None:
    settings = Settings.from_env()
    app = create_app(settings, store, controllers=False)
    token = admin_token(settings, store)
    with serve(app, port) as url:
        client = signed_in(url, token)
        stream = client.send(client.build_request("GET", "/events/line"), stream=True)
        lines = stream.iter_lines()
        assert first_event(lines) == "line"
        assert app.state.dashboard_streams.open == 1
        stopping = time.monotonic()
    # serve() waited for the server to stop; the stream ended when it was told to.
    assert time.monotonic() - stopping < 5
    assert app.state.dashboard_streams.closed
    stream.close()
    client.close()
