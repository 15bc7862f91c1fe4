"""The line API (the andon cord) and the promotion check, served in-process over a real
SQLite store; pipelines and artifacts are written into the store as the runner would."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from andon.pipeline import FinishedPipeline, decide_after_pipeline, line_view, record_change
from andon.server import create_app
from andon.settings import Settings
from andon.store import PipelineRecord, PipelineStatus, Store, open_store
from andon.testing import bearer, user_bearer

SPEC = """\
service: {name: billing}
processes:
  web: {command: python -m billing}
environments:
  test: {}
  prod: {protected: true}
"""


@dataclass
class Line:
    client: TestClient
    store: Store

    def get(self) -> dict[str, Any]:
        response = self.client.get("/api/v1/projects/billing/line")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def stop(self, reason: str, actor: str = "ana") -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/projects/billing/line/stop",
            json={"reason": reason},
            headers=user_bearer(self.store, actor),
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def resume(self) -> Any:
        return self.client.post(
            "/api/v1/projects/billing/line/resume",
            json={},
            headers=user_bearer(self.store, "ben"),
        )

    def promote(self, artifact: str, environment: str) -> Any:
        return self.client.post(
            "/api/v1/projects/billing/promotions",
            json={"artifact": artifact, "environment": environment},
        )

    def pipeline(self, status: PipelineStatus, *, commit: str) -> PipelineRecord:
        created = self.store.pipelines.create(
            project="billing", commit=commit, branch="main", trigger="poll", on_trunk=True
        )
        now = datetime.now(UTC)
        return self.store.pipelines.update(
            created.id, status=status, started_at=now, finished_at=now
        )

    def artifact(self, pipeline: PipelineRecord, project: str = "billing") -> str:
        digest = "sha256:" + hashlib.sha256(f"{project}{pipeline.id}".encode()).hexdigest()
        self.store.artifacts.add(
            digest=digest,
            project=project,
            commit=pipeline.commit,
            tree="f" * 40,
            size=123,
            path=f"/artifacts/{digest}",
            manifest={"files": {}},
            pipeline_id=pipeline.id,
        )
        return digest


@pytest.fixture
def line(andon_home: Path, tmp_path: Path, repo_factory: Callable[..., Path]) -> Iterator[Line]:
    settings = Settings.from_env()
    repo = repo_factory(tmp_path / "billing", {"andon.yaml": SPEC})
    with (
        open_store(settings.database_url) as store,
        TestClient(
            create_app(settings, store, controllers=False), headers=bearer(settings, store)
        ) as client,
    ):
        registered = client.post("/api/v1/projects", json={"source": str(repo)})
        assert registered.status_code == 201, registered.text
        yield Line(client, store)


def assert_error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    return str(error["message"])


def test_the_line_of_a_fresh_project_runs_with_nothing_built(line: Line) -> None:
    status = line.get()
    assert status["project"] == "billing"
    assert status["state"] == "running"
    assert status["trunk"] is None and status["last_green"] is None
    assert status["cause"] is None and status["since"] is None
    assert status["history"] == []


def test_stopping_the_line_by_hand_records_who_why_and_since_when(line: Line) -> None:
    stopped = line.stop("the payment provider is down")
    assert stopped["state"] == "stopped"
    assert stopped["cause"] == "manual"
    assert stopped["reason"] == "the payment provider is down"
    assert stopped["since"] is not None
    assert 0 <= stopped["stopped_seconds"] < 60
    (event,) = stopped["history"]
    assert event["state"] == "stopped" and event["actor"] == "ana"
    assert line.get()["state"] == "stopped"


def test_resuming_a_stopped_line_runs_it_again(line: Line) -> None:
    line.stop("investigating a flaky deploy")
    response = line.resume()
    assert response.status_code == 200, response.text
    resumed = response.json()
    assert resumed["state"] == "running" and resumed["since"] is None
    assert [e["state"] for e in resumed["history"]] == ["running", "stopped"]
    assert resumed["history"][0]["actor"] == "ben"
    assert resumed["history"][0]["reason"] == "resumed by ben"


def test_resuming_a_running_line_is_a_conflict(line: Line) -> None:
    message = assert_error(line.resume(), 409, "conflict")
    assert "running already" in message
    assert line.get()["history"] == []


def test_a_second_stop_keeps_the_time_the_line_first_stopped(line: Line) -> None:
    first = line.stop("first reason")
    again = line.stop("a better reason")
    assert again["reason"] == "a better reason"
    assert again["since"] == first["since"]
    assert len(again["history"]) == 2


def test_the_line_of_an_unknown_project_is_not_found(line: Line) -> None:
    assert_error(line.client.get("/api/v1/projects/nope/line"), 404, "not_found")
    response = line.client.post("/api/v1/projects/nope/line/stop", json={"reason": "x"})
    assert_error(response, 404, "not_found")


def test_stopping_without_a_reason_is_refused(line: Line) -> None:
    response = line.client.post("/api/v1/projects/billing/line/stop", json={"reason": ""})
    assert_error(response, 422, "bad_request")
    assert line.get()["state"] == "running"


def test_a_red_trunk_shows_as_a_stop_by_the_pipeline_with_the_last_green(line: Line) -> None:
    green = line.pipeline(PipelineStatus.SUCCESS, commit="a" * 40)
    red = line.pipeline(PipelineStatus.FAILED, commit="b" * 40)
    change = decide_after_pipeline(
        line_view(line.store, "billing"),
        FinishedPipeline(
            id=red.id,
            commit=red.commit,
            success=False,
            on_trunk=True,
            created_at=red.created_at,
            failing_jobs=["unit"],
            failing_tests=["tests.test_app::test_total"],
        ),
        datetime.now(UTC),
    )
    assert change is not None
    record_change(line.store, "billing", change)

    status = line.get()
    assert status["state"] == "stopped" and status["cause"] == "pipeline"
    assert status["trunk"] == "failed"
    assert status["last_green"] == {"pipeline": green.id, "commit": green.commit}
    assert status["details"]["failing_tests"] == ["tests.test_app::test_total"]
    assert f"pipeline #{red.id}" in str(status["reason"])


class TestPromotions:
    """While the line is stopped, a protected environment takes only artifacts of the last
    green commit or earlier; the rest of the time, and elsewhere, anything goes."""

    @pytest.fixture
    def built(self, line: Line) -> tuple[str, str]:
        """The artifact of the last green pipeline, and one built after it."""
        green = line.pipeline(PipelineStatus.SUCCESS, commit="a" * 40)
        later = line.pipeline(PipelineStatus.FAILED, commit="b" * 40)
        return line.artifact(green), line.artifact(later)

    def test_a_running_line_promotes_anything(self, line: Line, built: tuple[str, str]) -> None:
        _, newer = built
        response = line.promote(newer, "prod")
        assert response.status_code == 201, response.text
        assert response.json() == {
            "project": "billing",
            "environment": "prod",
            "artifact": newer,
            "allowed": True,
        }

    def test_a_stopped_line_refuses_a_newer_artifact_for_a_protected_environment(
        self, line: Line, built: tuple[str, str]
    ) -> None:
        _, newer = built
        line.stop("the checkout is broken")
        message = assert_error(line.promote(newer, "prod"), 409, "conflict")
        assert "the checkout is broken" in message
        assert "'prod' is protected" in message

    def test_a_stopped_line_accepts_the_last_green_artifact_for_a_protected_environment(
        self, line: Line, built: tuple[str, str]
    ) -> None:
        green, _ = built
        line.stop("the checkout is broken")
        response = line.promote(green, "prod")
        assert response.status_code == 201, response.text

    def test_a_stopped_line_accepts_a_newer_artifact_for_an_unprotected_environment(
        self, line: Line, built: tuple[str, str]
    ) -> None:
        _, newer = built
        line.stop("the checkout is broken")
        assert line.promote(newer, "test").status_code == 201

    def test_a_resumed_line_promotes_the_newer_artifact_again(
        self, line: Line, built: tuple[str, str]
    ) -> None:
        _, newer = built
        line.stop("the checkout is broken")
        assert line.promote(newer, "prod").status_code == 409
        assert line.resume().status_code == 200
        assert line.promote(newer, "prod").status_code == 201

    def test_a_short_digest_is_enough(self, line: Line, built: tuple[str, str]) -> None:
        green, _ = built
        response = line.promote(green[:19], "prod")
        assert response.status_code == 201, response.text
        assert response.json()["artifact"] == green

    def test_an_unknown_environment_is_not_found_and_the_known_ones_are_named(
        self, line: Line, built: tuple[str, str]
    ) -> None:
        green, _ = built
        message = assert_error(line.promote(green, "staging"), 404, "not_found")
        assert "staging" in message and "test, prod" in message

    def test_an_unknown_artifact_is_not_found(self, line: Line, built: tuple[str, str]) -> None:
        assert_error(line.promote("sha256:" + "0" * 64, "prod"), 404, "not_found")

    def test_an_artifact_of_another_project_is_not_found(self, line: Line) -> None:
        other = line.pipeline(PipelineStatus.SUCCESS, commit="c" * 40)
        digest = line.artifact(other, project="inventory")
        message = assert_error(line.promote(digest, "test"), 404, "not_found")
        assert "inventory" in message
