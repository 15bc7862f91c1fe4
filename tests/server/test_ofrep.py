"""OFREP as the OpenFeature ecosystem speaks it: the published OFREP provider
(``openfeature-provider-ofrep``) in the OpenFeature SDK, unchanged, against a real Andon
server, answers what the evaluator itself answers — value, variant, reason and error code
— for flags of every type and several contexts; and the protocol's own shapes (404
FLAG_NOT_FOUND, 400 INVALID_CONTEXT, 401, the bulk evaluation's ETag and 304)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode as OpenFeatureErrorCode

from andon.flags import FlagSet, FlagType
from andon.server import create_app
from andon.server.flag_edits import FlagChange
from andon.settings import Settings
from andon.store import FlagSetContent, open_store
from andon.testing import serve

DOCUMENT: dict[str, Any] = {
    "$evaluators": {"modern": {"sem_ver": [{"var": "appVersion"}, ">=", "2.0.0"]}},
    "flags": {
        "new-checkout": {
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {"if": [{"ends_with": [{"var": "email"}, "@shop.example"]}, "on"]},
            "metadata": {"owner": "team-checkout"},
        },
        "button-colour": {
            "variants": {"red": "#ff0000", "green": "#00ff00", "blue": "#0000ff"},
            "defaultVariant": "red",
            "targeting": {"fractional": [["red", 34], ["green", 33], ["blue", 33]]},
        },
        "page-size": {
            "variants": {"small": 10, "large": 50},
            "defaultVariant": "small",
            "targeting": {"if": [{"$ref": "modern"}, "large", "small"]},
        },
        "discount": {"variants": {"low": 0.25, "high": 0.75}, "defaultVariant": "high"},
        "banner": {
            "variants": {"none": {}, "sale": {"text": "Tea at half price", "pct": 50}},
            "defaultVariant": None,
            "targeting": {"if": [{"==": [{"var": "country"}, "NL"]}, "sale"]},
        },
        "old-search": {
            "state": "DISABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "on",
        },
        "picked": {
            "variants": {"a": "A", "b": "B"},
            "defaultVariant": "a",
            "targeting": {"var": "pick"},
        },
    },
}
CONTEXTS = [
    {},
    {"targetingKey": "user-1", "email": "ann@shop.example", "appVersion": "2.1.0"},
    {"targetingKey": "user-2", "email": "bob@example.com", "appVersion": "1.9.3", "country": "NL"},
    {"targetingKey": "user-3", "country": "BE", "appVersion": "not a version"},
    {"targetingKey": "user-4", "pick": "b"},
    {"targetingKey": "user-5", "pick": "z"},
]
CASES = [
    ("new-checkout", FlagType.BOOLEAN, False),
    ("old-search", FlagType.BOOLEAN, False),
    ("button-colour", FlagType.STRING, "none"),
    ("picked", FlagType.STRING, "?"),
    ("page-size", FlagType.INTEGER, 1),
    ("discount", FlagType.FLOAT, 0.5),
    ("banner", FlagType.OBJECT, {"text": ""}),
    ("no-such-flag", FlagType.BOOLEAN, True),
    ("new-checkout", FlagType.STRING, "wrong type"),
]


@pytest.fixture
def server_url(andon_home: Path, port: int) -> Iterator[str]:
    """A real Andon server whose project ``shop`` has the flags of DOCUMENT in ``prod``."""
    settings = Settings.from_env()
    with open_store(settings.database_url) as store:
        store.projects.add(
            name="shop", source="/src/shop", subdir="", trunk="main", service="shop",
            commit="a" * 40, spec={"environments": {"prod": {}}},
        )  # fmt: skip
        app = create_app(settings, store, controllers=False)
        app.state.flags.change("shop", "prod", seeded)
        with serve(app, port) as url:
            yield url


def seeded(content: FlagSetContent) -> FlagChange:
    """The flag set holding DOCUMENT, as one change (validated like any other)."""
    return FlagChange(FlagSetContent(document=copy.deepcopy(DOCUMENT)))


@pytest.fixture
def token(server_url: str) -> str:
    admin = Settings.from_env().token_file.read_text("utf-8").strip()
    created = httpx.post(
        f"{server_url}/api/v1/projects/shop/environments/prod/flags/tokens",
        json={},
        headers={"Authorization": f"Bearer {admin}"},
    )
    return str(created.json()["token"])


@pytest.fixture
def client(server_url: str, token: str) -> Iterator[OpenFeatureClient]:
    domain = f"andon-{uuid.uuid4().hex}"
    provider = OFREPProvider(
        server_url, headers_factory=lambda: {"Authorization": f"Bearer {token}"}
    )
    api.set_provider(provider, domain)
    yield api.get_client(domain)
    api.clear_providers()


def resolve(
    client: OpenFeatureClient, key: str, kind: FlagType, default: Any, context: dict[str, Any]
) -> Any:
    method = {
        FlagType.BOOLEAN: client.get_boolean_details,
        FlagType.STRING: client.get_string_details,
        FlagType.INTEGER: client.get_integer_details,
        FlagType.FLOAT: client.get_float_details,
        FlagType.OBJECT: client.get_object_details,
    }[kind]
    attributes = {name: value for name, value in context.items() if name != "targetingKey"}
    evaluation = EvaluationContext(context.get("targetingKey"), attributes)
    return method(key, default, evaluation)


def text(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


@pytest.mark.parametrize("context", CONTEXTS, ids=lambda c: c.get("targetingKey", "empty"))
def test_the_ofrep_provider_answers_what_the_evaluator_answers(
    client: OpenFeatureClient, context: dict[str, Any]
) -> None:
    local = FlagSet.from_document(DOCUMENT, strict=True)

    for key, kind, default in CASES:
        remote = resolve(client, key, kind, default, context)
        expected = local.evaluate(key, default, context, kind=kind)

        case = (key, kind, context)
        assert remote.value == expected.value, case
        assert remote.variant == expected.variant, case
        assert text(remote.error_code) == text(expected.error_code), case
        if expected.error_code is None:
            assert text(remote.reason) == expected.reason.value, case
            assert remote.flag_metadata == dict(expected.flag_metadata), case


def test_a_bad_token_makes_every_evaluation_the_callers_default(server_url: str) -> None:
    domain = f"andon-{uuid.uuid4().hex}"
    provider = OFREPProvider(
        server_url, headers_factory=lambda: {"Authorization": "Bearer andon_fc_wrong"}
    )
    api.set_provider(provider, domain)
    try:
        details = api.get_client(domain).get_boolean_details("new-checkout", True)
    finally:
        api.clear_providers()

    assert (details.value, details.error_code) == (True, OpenFeatureErrorCode.GENERAL)
    assert details.error_message == "unauthorized"


def test_the_protocols_shapes_and_statuses(server_url: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{server_url}/ofrep/v1/evaluate/flags"
    with httpx.Client(headers=headers, timeout=5) as http:
        found = http.post(f"{base}/page-size", json={"context": {"appVersion": "3.0.0"}})
        missing = http.post(f"{base}/nothing", json={})
        invalid = http.post(f"{base}/page-size", json={"context": [1, 2]})
        not_json = http.post(f"{base}/page-size", content=b"{", headers={"Content-Type": "x"})
        unauthorised = httpx.post(f"{base}/page-size", json={})
        bulk = http.post(base, json={"context": {"targetingKey": "user-1", "pick": "z"}})
        unchanged = http.post(
            base,
            json={"context": {"targetingKey": "user-1", "pick": "z"}},
            headers={"If-None-Match": bulk.headers["etag"]},
        )
        other_context = http.post(
            base,
            json={"context": {"targetingKey": "user-2"}},
            headers={"If-None-Match": bulk.headers["etag"]},
        )

    page_size = {"key": "page-size", "value": 50, "variant": "large", "metadata": {}}
    assert (found.status_code, found.json()) == (200, {**page_size, "reason": "TARGETING_MATCH"})
    assert (missing.status_code, missing.json()["key"], missing.json()["errorCode"]) == (
        404,
        "nothing",
        "FLAG_NOT_FOUND",
    )
    assert missing.json()["errorDetails"]
    assert (invalid.status_code, invalid.json()["errorCode"]) == (400, "INVALID_CONTEXT")
    assert (not_json.status_code, not_json.json()["errorCode"]) == (400, "INVALID_CONTEXT")
    assert unauthorised.status_code == 401
    assert bulk.status_code == 200
    listed = {answer["key"]: answer for answer in bulk.json()["flags"]}
    # A disabled flag and one without a default variant serve the caller's default: unlisted.
    assert "old-search" not in listed and "banner" not in listed
    assert listed["new-checkout"]["value"] is False
    assert (listed["picked"]["errorCode"], set(listed["picked"])) == (
        "GENERAL",
        {"key", "errorCode", "errorDetails"},
    )
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    assert other_context.status_code == 200
