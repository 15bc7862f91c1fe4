"""The OpenFeature provider: openfeature-sdk's client answers what the FlagClient answers,
with the same reasons and error codes, announces readiness and changes, and tracks."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode, ProviderNotReadyError
from openfeature.flag_evaluation import Reason
from openfeature.provider import ProviderStatus
from openfeature.track import TrackingEventDetails

from andon.flags.client import FlagClient
from andon.flags.openfeature import AndonProvider

from .sdk_server import TOKEN, SdkServer, running, wait_until

EVERY_TYPE = {
    "flags": {
        "new-checkout": {
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {"if": [{"ends_with": [{"var": "email"}, "@andon-shop.example"]}, "on"]},
        },
        "banner": {"variants": {"blue": "blue", "red": "red"}, "defaultVariant": "blue"},
        "page-size": {"variants": {"small": 10, "large": 50}, "defaultVariant": "large"},
        "sample-rate": {"variants": {"low": 0.1, "high": 0.9}, "defaultVariant": "low"},
        "layout": {
            "variants": {"grid": {"columns": 3}, "list": {"columns": 1}},
            "defaultVariant": "grid",
        },
    }
}
EMPLOYEE = {"targetingKey": "u1", "email": "ada@andon-shop.example"}


@pytest.fixture
def server() -> Iterator[SdkServer]:
    with running(EVERY_TYPE) as server:
        yield server


@pytest.fixture
def flag_client(server: SdkServer, tmp_path: Path) -> Iterator[FlagClient]:
    client = FlagClient(server.url, "prod", TOKEN, cache_dir=tmp_path, flush_interval=0.1)
    yield client
    client.close(timeout=0.5)


@pytest.fixture
def openfeature(
    flag_client: FlagClient, request: pytest.FixtureRequest
) -> Iterator[OpenFeatureClient]:
    domain = request.node.name
    api.set_provider_and_wait(AndonProvider(flag_client), domain)
    yield api.get_client(domain)
    api.clear_providers()


def of_context(context: dict[str, Any]) -> EvaluationContext:
    attributes = {name: value for name, value in context.items() if name != "targetingKey"}
    return EvaluationContext(targeting_key=context.get("targetingKey"), attributes=attributes)


CASES = [
    ("boolean", "new-checkout", False),
    ("string", "banner", "none"),
    ("integer", "page-size", 0),
    ("float", "sample-rate", 0.0),
    ("object", "layout", {}),
]


@pytest.mark.parametrize(("kind", "key", "default"), CASES)
@pytest.mark.parametrize("context", [EMPLOYEE, {"targetingKey": "u2"}, {}])
def test_the_provider_answers_what_the_client_answers(
    openfeature: OpenFeatureClient,
    flag_client: FlagClient,
    kind: str,
    key: str,
    default: Any,
    context: dict[str, Any],
) -> None:
    ours = getattr(flag_client, f"{kind}_details")(key, default, context)
    theirs = getattr(openfeature, f"get_{kind}_details")(key, default, of_context(context))
    assert (theirs.value, theirs.variant) == (ours.value, ours.variant)
    assert theirs.reason == ours.reason.value
    assert theirs.error_code is None


def test_errors_come_through_as_openfeature_error_codes(openfeature: OpenFeatureClient) -> None:
    missing = openfeature.get_boolean_details("missing", True)
    assert (missing.value, missing.reason, missing.error_code) == (
        True,
        Reason.ERROR,
        ErrorCode.FLAG_NOT_FOUND,
    )
    mismatch = openfeature.get_integer_details("banner", 7)
    assert (mismatch.value, mismatch.error_code) == (7, ErrorCode.TYPE_MISMATCH)


def test_a_change_is_announced_with_the_flags_it_changed(
    openfeature: OpenFeatureClient, flag_client: FlagClient, server: SdkServer
) -> None:
    announced: list[EventDetails] = []
    openfeature.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, announced.append)
    wait_until(lambda: flag_client.connected)
    server.publish(
        {
            "flags": {
                **EVERY_TYPE["flags"],
                "banner": {"variants": {"red": "red"}, "defaultVariant": "red"},
            }
        }
    )
    wait_until(lambda: announced)
    assert announced[0].flags_changed == ["banner"]
    assert openfeature.get_string_value("banner", "none") == "red"


def test_track_goes_to_the_server_with_the_next_batch(
    openfeature: OpenFeatureClient, server: SdkServer
) -> None:
    openfeature.track("checkout", of_context(EMPLOYEE), TrackingEventDetails(value=19.5))
    wait_until(server.events)
    assert [(e["name"], e["key"], e["value"]) for e in server.events()] == [
        ("checkout", "u1", 19.5)
    ]


def test_a_provider_without_flags_is_not_ready_until_the_server_answers(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = SdkServer(EVERY_TYPE)
    server.port = port
    client = FlagClient(f"http://127.0.0.1:{port}", "prod", TOKEN, cache_dir=tmp_path)
    domain = request.node.name
    try:
        with pytest.raises(ProviderNotReadyError):
            api.set_provider_and_wait(AndonProvider(client, ready_timeout=0.1), domain)
        openfeature = api.get_client(domain)
        assert openfeature.get_provider_status() == ProviderStatus.ERROR
        details = openfeature.get_boolean_details("new-checkout", True)
        assert (details.value, details.error_code) == (True, ErrorCode.PROVIDER_NOT_READY)
        server.start()
        wait_until(lambda: openfeature.get_provider_status() == ProviderStatus.READY)
        assert openfeature.get_string_value("banner", "none") == "blue"
    finally:
        api.clear_providers()
        server.stop()
