"""The real ``andon flags`` commands against a real server: a flag rolled out to a
sticky share, evaluated for a context, killed and restored, its history, a flagd export
that the evaluator loads, client tokens shown once; refusals exit 1 with one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from andon.flags import FlagSet
from andon.server import create_app
from andon.server.flag_edits import FlagChange
from andon.settings import Settings
from andon.store import FlagSetContent, open_store
from andon.testing import home_bearer, serve
from andon.testing.commands import andon, refusal, stdout_of

DOCUMENT: dict[str, Any] = {
    "flags": {
        "new-checkout": {
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "metadata": {"owner": "team-checkout"},
        }
    }
}


@pytest.fixture
def url(andon_home: Path, port: int) -> Iterator[str]:
    """A real server whose project ``shop`` has flag ``new-checkout`` (off) in ``prod``."""
    settings = Settings.from_env()
    with open_store(settings.database_url) as store:
        store.projects.add(
            name="shop", source="/src/shop", subdir="", trunk="main", service="shop",
            commit="a" * 40, spec={"environments": {"prod": {}}},
        )  # fmt: skip
        app = create_app(settings, store, controllers=False)
        app.state.flags.change(
            "shop", "prod", lambda _: FlagChange(FlagSetContent(document=DOCUMENT))
        )
        with serve(app, port) as served:
            yield served


def ok(url: str, *args: str) -> str:
    return stdout_of(andon("flags", *args, "--project", "shop", "--url", url))


def refused(url: str, *args: str) -> str:
    return refusal(andon("flags", *args, "--project", "shop", "--url", url))


def test_a_flag_is_rolled_out_evaluated_killed_restored_and_exported(
    url: str, tmp_path: Path
) -> None:
    ok(url, "set", "new-checkout", "--env", "prod", "--rollout", "30", "--reason", "ramp up")
    # The split over 40 users, asked of the API; one of them asked of the CLI below.
    answers = [
        httpx.post(
            f"{url}/api/v1/projects/shop/environments/prod/flags/new-checkout/evaluate",
            json={"context": {"targetingKey": f"user-{i}"}},
            headers=home_bearer(),
        ).json()
        for i in range(40)
    ]
    on = sum(answer["value"] is True for answer in answers)
    assert 4 <= on <= 20, on  # a sticky 30% of 40 users
    assert {answer["reason"] for answer in answers} == {"TARGETING_MATCH"}
    again = ok(url, "eval", "new-checkout", "--env", "prod", "-c", '{"targetingKey": "user-1"}')
    assert f"value: {json.dumps(answers[1]['value'])}" in again  # the same user, the same answer

    killed = ok(url, "kill", "new-checkout", "--env", "prod", "--reason", "orders fall")
    assert "new-checkout killed in prod: flag set version 3" in killed
    assert "value: false" in ok(
        url, "eval", "new-checkout", "--env", "prod", "-c", '{"targetingKey": "user-1"}'
    )
    shown = ok(url, "get", "new-checkout", "--env", "prod")
    assert "KILLED" in shown and "fleet: 0 of 0 SDK(s) on version 3" in shown
    assert "killed in prod" in ok(url, "restore", "new-checkout", "--env", "prod").replace(
        "restored", "killed"
    )
    assert "fractional" in ok(url, "get", "new-checkout", "--env", "prod")

    history = ok(url, "history", "--env", "prod", "new-checkout").splitlines()
    assert [line.split()[2] for line in history] == ["restored", "killed", "set"]
    assert history[1].endswith("— orders fall")

    exported = tmp_path / "flags.json"
    ok(url, "export", "--env", "prod", "-o", str(exported))
    document = json.loads(exported.read_text())
    assert FlagSet.from_document(document).resolve_boolean("new-checkout", False).variant in (
        "on",
        "off",
    )
    listed = ok(url, "list", "--env", "prod")
    assert "new-checkout" in listed and "version 4" in listed


def test_client_tokens_are_shown_once_listed_without_themselves_and_revoked(url: str) -> None:
    created = ok(url, "token", "create", "--env", "prod", "--name", "web").splitlines()[0]
    assert created.startswith("andon_fc_")
    listed = ok(url, "token", "list", "--env", "prod")
    assert "web" in listed and "active" in listed and created not in listed
    ok(url, "token", "revoke", "1", "--env", "prod")
    assert "revoked" in ok(url, "token", "list", "--env", "prod")


def test_bad_input_is_one_line_and_changes_nothing(url: str) -> None:
    assert "say what to set" in refused(url, "set", "new-checkout", "--env", "prod")
    assert "between 0 and 100" in refused(
        url, "set", "new-checkout", "--env", "prod", "--rollout", "120"
    )
    assert "not JSON" in refused(url, "eval", "new-checkout", "--env", "prod", "-c", "{nope")
    assert "no flag 'old-search'" in refused(url, "kill", "old-search", "--env", "prod")
    assert "version 1" in ok(url, "list", "--env", "prod")
