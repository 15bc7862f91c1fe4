"""The real ``andon experiment`` commands against a real server: an experiment's results
as a table with the sample-ratio line and the verdict, the same as JSON, the list of an
environment's experiments; refusals exit non-zero with one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from andon.server import create_app
from andon.server.flag_edits import FlagEdit, Who
from andon.settings import Settings
from andon.store import Conversion, Exposure, open_store
from andon.testing import home_bearer, serve
from andon.testing.commands import andon, refusal, stdout_of

START = datetime(2025, 12, 1, tzinfo=UTC)
FLAG = {"variants": {"on": True, "off": False}, "defaultVariant": "off"}


@pytest.fixture
def url(andon_home: Path, port: int) -> Iterator[str]:
    """A real server whose ``prod`` has flag ``new-checkout`` split 50/50 with an
    experiment on checkouts (off converts 10% of 400, on 15% of 400), and flag
    ``old-search`` without one."""
    settings = Settings.from_env()
    with open_store(settings.database_url) as store:
        store.projects.add(
            name="shop", source="/src/shop", subdir="", trunk="main", service="shop",
            commit="a" * 40, spec={"environments": {"prod": {}}},
        )  # fmt: skip
        app = create_app(settings, store, controllers=False)
        flags, who = app.state.flags, Who("ann")
        experiment = {"goal": "checkout", "control": "off"}
        flags.put("shop", "prod", "new-checkout", {"flag": FLAG, "experiment": experiment}, who)
        flags.edit("shop", "prod", "new-checkout", FlagEdit(rollout=50), who)
        flags.put("shop", "prod", "old-search", {"flag": FLAG}, who)
        exposures, conversions = [], []
        for variant, converted in (("off", 40), ("on", 60)):
            for n in range(400):
                unit, at = f"{variant}-{n}", START + timedelta(seconds=n)
                exposures.append(Exposure("new-checkout", variant, unit, at))
                if n < converted:
                    conversions.append(Conversion("checkout", unit, at + timedelta(seconds=5)))
        store.flag_events.add_exposures("shop", "prod", exposures)
        store.flag_events.add_conversions("shop", "prod", conversions)
        with serve(app, port) as served:
            yield served


def ok(url: str, *args: str) -> str:
    return stdout_of(andon("experiment", *args, "--project", "shop", "--url", url))


def refused(url: str, *args: str) -> str:
    return refusal(andon("experiment", *args, "--project", "shop", "--url", url))


def test_results_show_each_variant_the_sample_ratio_and_the_verdict(url: str) -> None:
    shown = ok(url, "results", "new-checkout", "--env", "prod").splitlines()

    assert shown[0] == (
        "experiment on new-checkout in prod: goal checkout, control off (flag set version 3)"
    )
    header, control, treatment = (line.split() for line in shown[1:4])
    assert header[:4] == ["variant", "exposures", "conversions", "rate"]
    assert control[:5] == ["off", "400", "40", "10.0%", "control"]
    assert treatment[:5] == ["on", "400", "60", "15.0%", "+50.0%"]
    assert shown[4].startswith("sample ratio: assignment matches the expected 50/50 split")
    assert shown[5].startswith("significant: on converts 15.0% vs off 10.0% (+50.0%, 95% CI")

    as_json = json.loads(ok(url, "results", "new-checkout", "--env", "prod", "--json"))
    api = httpx.get(
        f"{url}/api/v1/projects/shop/environments/prod/experiments/new-checkout",
        headers=home_bearer(),
    )
    assert as_json == api.json()
    assert [v["exposures"] for v in as_json["variants"]] == [400, 400]


def test_list_names_each_experiment_with_its_status(url: str) -> None:
    [line] = ok(url, "list", "--env", "prod").splitlines()

    assert line.startswith(
        "new-checkout  goal checkout, control off, 800 exposures — significant: on converts"
    )


def test_a_flag_without_an_experiment_or_a_bad_confidence_is_refused_in_one_line(
    url: str,
) -> None:
    assert "flag 'old-search' has no experiment in environment prod" in refused(
        url, "results", "old-search", "--env", "prod"
    )
    assert "--confidence is between 0 and 1" in refused(
        url, "results", "new-checkout", "--env", "prod", "--confidence", "95"
    )
