"""The control plane's HTTP API, served in-process over a real SQLite store and real git
repositories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from andon.server import create_app
from andon.settings import Settings
from andon.store import open_store
from andon.testing import bearer, git

VALID = """\
service: {name: billing}
processes:
  web: {command: python -m billing, health: /healthz}
environments:
  prod: {}
"""


@pytest.fixture
def client(andon_home: Path) -> Iterator[TestClient]:
    settings = Settings.from_env()
    with (
        open_store(settings.database_url) as store,
        TestClient(
            create_app(settings, store, controllers=False), headers=bearer(settings, store)
        ) as tc,
    ):
        yield tc


def test_health_answers_with_version_and_database(client: TestClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "sqlite"
    assert body["schema_revision"]


def test_openapi_document_lists_the_projects_routes(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert {"/api/v1/health", "/api/v1/projects", "/api/v1/projects/{name}"} <= set(
        document["paths"]
    )


def test_registering_a_repository_stores_the_validated_spec_at_trunk(
    client: TestClient, tmp_path: Path, repo_factory
) -> None:
    repo = repo_factory(tmp_path / "billing", {"andon.yaml": VALID})
    response = client.post("/api/v1/projects", json={"source": str(repo)})
    assert response.status_code == 201, response.text
    project = response.json()
    assert project["name"] == "billing"
    assert len(project["commit"]) == 40
    assert project["spec"]["processes"]["web"]["health"] == "/healthz"
    listed = client.get("/api/v1/projects").json()
    assert [p["name"] for p in listed] == ["billing"]


def test_the_committed_file_counts_not_the_working_copy(
    client: TestClient, tmp_path: Path, repo_factory
) -> None:
    repo = repo_factory(tmp_path / "billing", {"andon.yaml": VALID})
    (repo / "andon.yaml").write_text("this: [is not committed")
    response = client.post("/api/v1/projects", json={"source": str(repo), "name": "bill"})
    assert response.status_code == 201, response.text


def test_an_invalid_spec_is_refused_with_every_located_problem_and_nothing_stored(
    client: TestClient, tmp_path: Path, repo_factory
) -> None:
    broken = VALID.replace("prod: {}", "prod: {strategy: canery, ttl: soon}")
    repo = repo_factory(tmp_path / "billing", {"andon.yaml": broken})
    response = client.post("/api/v1/projects", json={"source": str(repo)})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_spec"
    assert [p["path"] for p in error["problems"]] == [
        "environments.prod.strategy",
        "environments.prod.ttl",
    ]
    assert error["lines"][0].startswith("andon.yaml:5:")
    assert client.get("/api/v1/projects").json() == []


def test_a_template_missing_from_the_commit_is_a_located_problem(
    client: TestClient, tmp_path: Path, repo_factory
) -> None:
    spec = (
        VALID + "config:\n  templates:\n    - {source: conf/app.toml.j2, destination: app.toml}\n"
    )
    repo = repo_factory(tmp_path / "billing", {"svc/andon.yaml": spec})
    response = client.post("/api/v1/projects", json={"source": str(repo), "dir": "svc"})
    assert response.status_code == 422
    (problem,) = response.json()["error"]["problems"]
    assert problem["path"] == "config.templates[0].source"
    assert "does not exist" in problem["message"]


def test_a_missing_trunk_branch_says_which_option_fixes_it(
    client: TestClient, tmp_path: Path, repo_factory
) -> None:
    repo = repo_factory(tmp_path / "billing", {"andon.yaml": VALID}, branch="trunk")
    response = client.post("/api/v1/projects", json={"source": str(repo)})
    assert response.status_code == 404
    assert "--trunk" in response.json()["error"]["message"]
    ok = client.post("/api/v1/projects", json={"source": str(repo), "trunk": "trunk"})
    assert ok.status_code == 201


def test_adding_the_same_repository_again_refreshes_it_from_trunk(
    client: TestClient, tmp_path: Path, repo_factory
) -> None:
    repo = repo_factory(tmp_path / "billing", {"andon.yaml": VALID})
    first = client.post("/api/v1/projects", json={"source": str(repo)}).json()
    (repo / "andon.yaml").write_text(VALID.replace("prod: {}", "prod: {}\n  test: {}"))
    git(repo, "commit", "-qam", "add a test environment")
    again = client.post("/api/v1/projects", json={"source": str(repo)})
    assert again.status_code == 200
    assert again.json()["commit"] != first["commit"]
    assert set(again.json()["spec"]["environments"]) == {"prod", "test"}
    assert len(client.get("/api/v1/projects").json()) == 1


def test_another_repository_under_a_taken_name_is_a_conflict(
    client: TestClient, tmp_path: Path, repo_factory
) -> None:
    one = repo_factory(tmp_path / "one", {"andon.yaml": VALID})
    two = repo_factory(tmp_path / "two", {"andon.yaml": VALID})
    assert client.post("/api/v1/projects", json={"source": str(one)}).status_code == 201
    again = client.post("/api/v1/projects", json={"source": str(two)})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert "--name" in again.json()["error"]["message"]


def test_a_git_url_is_mirrored_and_read(client: TestClient, tmp_path: Path, repo_factory) -> None:
    repo = repo_factory(tmp_path / "billing", {"andon.yaml": VALID})
    response = client.post("/api/v1/projects", json={"source": f"file://{repo}"})
    assert response.status_code == 201, response.text
    assert (Settings.from_env().repos_dir / "billing.git").is_dir()


def test_a_path_that_is_not_a_repository_is_a_clear_not_found(
    client: TestClient, tmp_path: Path
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    response = client.post("/api/v1/projects", json={"source": str(plain)})
    assert response.status_code == 404
    assert "not a git repository" in response.json()["error"]["message"]


def test_a_dir_outside_the_repository_is_refused(
    client: TestClient, tmp_path: Path, repo_factory
) -> None:
    repo = repo_factory(tmp_path / "billing", {"andon.yaml": VALID})
    response = client.post("/api/v1/projects", json={"source": str(repo), "dir": "../x"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_errors_share_one_json_shape(client: TestClient) -> None:
    unknown_route = client.get("/api/v1/nothing-here")
    unknown_project = client.get("/api/v1/projects/nope")
    bad_body = client.post("/api/v1/projects", json={"source": 3})
    for response, status in ((unknown_route, 404), (unknown_project, 404), (bad_body, 422)):
        assert response.status_code == status
        error = response.json()["error"]
        assert error["code"] and error["message"].endswith(".")


def test_removing_a_project_forgets_it(client: TestClient, tmp_path: Path, repo_factory) -> None:
    repo = repo_factory(tmp_path / "billing", {"andon.yaml": VALID})
    client.post("/api/v1/projects", json={"source": str(repo)})
    assert client.delete("/api/v1/projects/billing").status_code == 204
    assert client.get("/api/v1/projects/billing").status_code == 404
