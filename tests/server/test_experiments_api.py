"""Experiment results through the API over a real SQLite store: synthetic exposures and
goal events posted by an SDK (``POST /api/v1/sdk/events`` with a client token) are
counted per variant — a unit for the variant of its first exposure, converted by a goal
event at or after it — and judged exactly as ``assess_experiment`` judges the counts by
hand; a split skewed against the flag's rollout is flagged; a flag without an
experiment is a 404 in a sentence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from andon.flags.experiments import VariantCounts, assess_experiment
from andon.server import create_app
from andon.settings import Settings
from andon.store import Store, open_store
from andon.testing import bearer

ENVIRONMENT = "/api/v1/projects/shop/environments/prod"
FLAG = {"variants": {"on": True, "off": False}, "defaultVariant": "off"}
START = 1_764_547_200.0


@pytest.fixture
def store(andon_home: Path) -> Iterator[Store]:
    with open_store(Settings.from_env().database_url) as opened:
        opened.projects.add(
            name="shop", source="/src/shop", subdir="", trunk="main", service="shop",
            commit="a" * 40, spec={"environments": {"prod": {}}},
        )  # fmt: skip
        yield opened


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    settings = Settings.from_env()
    with TestClient(
        create_app(settings, store, controllers=False), headers=bearer(settings, store)
    ) as test_client:
        yield test_client


def experiment(client: TestClient, *, rollout: float = 50, **body: Any) -> None:
    """Flag ``new-checkout`` rolled out to ``rollout``% with an experiment on checkouts."""
    found = client.put(
        f"{ENVIRONMENT}/flags/new-checkout",
        json={"flag": FLAG, "experiment": {"goal": "checkout", "control": "off"}, **body},
    )
    assert found.status_code == 200, found.text
    found = client.post(f"{ENVIRONMENT}/flags/new-checkout/set", json={"rollout": rollout})
    assert found.status_code == 200, found.text


def report(client: TestClient, **batch: Any) -> None:
    """A batch an SDK sends, with a client token of the environment."""
    token = client.post(f"{ENVIRONMENT}/flags/tokens", json={"name": "web"}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    answered = client.post("/api/v1/sdk/events", json=batch, headers=headers)
    assert answered.status_code == 202, answered.text


def units(variant: str, exposed: int, converted: int, *, offset: int = 0) -> dict[str, list[Any]]:
    """``exposed`` units shown ``variant``, the first ``converted`` of them checking out a
    second after their exposure."""
    exposures = [
        {"flag": "new-checkout", "variant": variant, "key": f"{variant}-{n}", "at": START + n}
        for n in range(offset, offset + exposed)
    ]
    events = [
        {"name": "checkout", "key": f"{variant}-{n}", "at": START + n + 1}
        for n in range(offset, offset + converted)
    ]
    return {"exposures": exposures, "events": events}


def test_results_count_first_exposures_and_later_conversions_as_assess_experiment_does(
    client: TestClient,
) -> None:
    experiment(client)
    off, on = units("off", 400, 40), units("on", 410, 62)
    tricky_exposures = [
        # u-early checked out before it was exposed: not a conversion.
        {"flag": "new-checkout", "variant": "on", "key": "u-early", "at": START + 100},
        # u-twice was first shown off, then on: it counts for off, and converts once.
        {"flag": "new-checkout", "variant": "on", "key": "u-twice", "at": START + 60},
        {"flag": "new-checkout", "variant": "off", "key": "u-twice", "at": START + 50},
        # u-again checked out before and after its exposure: a conversion.
        {"flag": "new-checkout", "variant": "on", "key": "u-again", "at": START + 100},
    ]
    tricky_events = [
        {"name": "checkout", "key": "u-early", "at": START + 99},
        {"name": "checkout", "key": "u-twice", "at": START + 70},
        {"name": "checkout", "key": "u-twice", "at": START + 80},
        {"name": "checkout", "key": "u-again", "at": START + 10},
        {"name": "checkout", "key": "u-again", "at": START + 200},
        # Never exposed, or another event: not conversions.
        {"name": "checkout", "key": "stranger", "at": START + 5},
        {"name": "search", "key": "off-100", "at": START + 500},
    ]
    report(
        client,
        exposures=off["exposures"] + on["exposures"] + tricky_exposures,
        events=off["events"] + on["events"] + tricky_events,
    )

    found = client.get(f"{ENVIRONMENT}/experiments/new-checkout")

    assert found.status_code == 200, found.text
    results = found.json()
    by_hand = [VariantCounts("off", 401, 41), VariantCounts("on", 412, 63)]
    expected = assess_experiment(by_hand, "off", weights={"off": 50, "on": 50}).to_dict()
    assert {name: results[name] for name in expected} == expected
    assert (results["flag"], results["goal"], results["control"], results["version"]) == (
        "new-checkout",
        "checkout",
        "off",
        2,
    )
    assert results["weights"] == {"off": 50.0, "on": 50.0}
    assert results["sample_ratio"]["skewed"] is False
    listed = client.get(f"{ENVIRONMENT}/experiments").json()
    assert listed["experiments"] == [
        {
            "flag": "new-checkout",
            "goal": "checkout",
            "control": "off",
            "exposures": 813,
            "status": results["status"],
            "message": results["message"],
        }
    ]


def test_a_split_skewed_against_the_flags_rollout_is_a_sample_ratio_mismatch(
    client: TestClient,
) -> None:
    experiment(client, rollout=20)
    # 20% asked for on: 300 of 1,000 is far off it.
    report(client, **_merged(units("off", 700, 70), units("on", 300, 45)))

    results = client.get(f"{ENVIRONMENT}/experiments/new-checkout").json()

    assert results["weights"] == {"off": 80.0, "on": 20.0}
    assert results["status"] == "sample_ratio_mismatch"
    assert results["sample_ratio"]["skewed"] is True
    assert results["message"].startswith("assignment is skewed: off 700 vs on 300 exposures")


def test_a_matching_split_is_judged_on_its_lift(client: TestClient) -> None:
    experiment(client, rollout=20)
    report(client, **_merged(units("off", 800, 80), units("on", 200, 40)))

    results = client.get(f"{ENVIRONMENT}/experiments/new-checkout?confidence=0.9").json()

    assert results["sample_ratio"]["skewed"] is False
    assert results["confidence"] == 0.9
    assert results["status"] == "significant"
    assert results["message"].startswith("on converts 20.0% vs off 10.0% (+100.0%, 90% CI")


def test_a_flag_without_an_experiment_or_no_such_flag_is_a_404_in_a_sentence(
    client: TestClient,
) -> None:
    found = client.put(f"{ENVIRONMENT}/flags/old-search", json={"flag": FLAG})
    assert found.status_code == 200, found.text

    plain = client.get(f"{ENVIRONMENT}/experiments/old-search")
    unknown = client.get(f"{ENVIRONMENT}/experiments/nope")
    elsewhere = client.get("/api/v1/projects/shop/environments/qa/experiments/old-search")

    for answer in (plain, unknown, elsewhere):
        assert answer.status_code == 404, answer.text
        message = answer.json()["error"]["message"]
        assert "\n" not in message and message.endswith("."), message
    assert (
        "flag 'old-search' has no experiment in environment prod"
        in plain.json()["error"]["message"]
    )
    assert "there is no flag 'nope'" in unknown.json()["error"]["message"]
    assert client.get(f"{ENVIRONMENT}/experiments").json()["experiments"] == []


def _merged(*parts: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {name: [item for part in parts for item in part[name]] for name in parts[0]}
