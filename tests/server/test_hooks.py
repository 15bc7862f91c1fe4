"""Being told about new commits: signed GitHub and GitLab push events and the local git
hooks, served in-process over a real SQLite store and real git repositories. The
scheduler does not run, so whatever a hook queues stays queued for the test to see."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from andon.server import create_app
from andon.server.api.hooks import normalize_url
from andon.server.signing import sign
from andon.settings import Settings
from andon.store import PipelineRecord, PipelineStatus, Store, open_store
from andon.testing import bearer, git

SECRET = "s3cret"
ZEROS = "0" * 40


SPEC = """\
service: {name: billing}
processes:
  web: {command: python -m billing}
build:
  compile: {command: "true"}
environments:
  prod: {}
"""


def commit(repo: Path, name: str, text: str) -> str:
    (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"change {name}")
    return git(repo, "rev-parse", "HEAD")


class Hooks:
    """A client of one app, its store, and a registered repository."""

    def __init__(self, client: TestClient, store: Store, repo: Path) -> None:
        self.client = client
        self.store = store
        self.repo = repo

    def register(self, source: str) -> None:
        response = self.client.post("/api/v1/projects", json={"source": source})
        assert response.status_code == 201, response.text

    def github(
        self, payload: Any, *, event: str = "push", signature: str | bytes | None = None
    ) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers: dict[str, Any] = {
            "X-GitHub-Event": event,
            "Content-Type": "application/json",
        }
        headers["X-Hub-Signature-256"] = sign(SECRET, body) if signature is None else signature
        return self.client.post("/api/v1/hooks/git", content=body, headers=headers)

    def gitlab(self, payload: Any, *, token: str | None = SECRET, event: str = "Push Hook") -> Any:
        headers = {"X-Gitlab-Event": event, "Content-Type": "application/json"}
        if token is not None:
            headers["X-Gitlab-Token"] = token
        return self.client.post("/api/v1/hooks/git", content=json.dumps(payload), headers=headers)

    def pipelines(self) -> list[PipelineRecord]:
        return self.store.pipelines.list(project="billing")


def github_push(clone_url: str, after: str, *, branch: str = "main") -> dict[str, Any]:
    """The parts of GitHub's push payload that matter here."""
    return {
        "ref": f"refs/heads/{branch}",
        "before": ZEROS,
        "after": after,
        "deleted": after == ZEROS,
        "repository": {
            "full_name": "acme/billing",
            "clone_url": clone_url,
            "html_url": "https://github.invalid/acme/billing",
        },
    }


def gitlab_push(http_url: str, after: str, *, branch: str = "main") -> dict[str, Any]:
    """The parts of GitLab's push payload that matter here."""
    return {
        "object_kind": "push",
        "ref": f"refs/heads/{branch}",
        "before": ZEROS,
        "after": after,
        "checkout_sha": None if after == ZEROS else after,
        "project": {"git_http_url": http_url, "web_url": "https://gitlab.invalid/acme/billing"},
        "repository": {"name": "billing", "git_http_url": http_url},
    }


@pytest.fixture
def make_hooks(
    andon_home: Path, tmp_path: Path, repo_factory: Callable[..., Path]
) -> Iterator[Callable[[str | None], Hooks]]:
    """``make_hooks(secret)``: an app configured from the environment as the server is,
    with ANDON_WEBHOOK_SECRET set to ``secret`` (or unset)."""
    repo = repo_factory(tmp_path / "billing", {"andon.yaml": SPEC})
    opened: list[Any] = []

    def make(secret: str | None) -> Hooks:
        env = dict(os.environ)
        env.pop("ANDON_WEBHOOK_SECRET", None)
        if secret is not None:
            env["ANDON_WEBHOOK_SECRET"] = secret
        settings = Settings.from_env(env)
        store = open_store(settings.database_url)
        client = TestClient(
            create_app(settings, store, controllers=False), headers=bearer(settings, store)
        )
        client.__enter__()
        opened.append((client, store))
        return Hooks(client, store, repo)

    yield make
    for client, store in reversed(opened):
        client.__exit__(None, None, None)
        store.close()


@pytest.fixture
def hooks(make_hooks: Callable[[str | None], Hooks]) -> Hooks:
    """Hooks with the secret configured and the repository registered by its path."""
    made = make_hooks(SECRET)
    made.register(str(made.repo))
    return made


def test_the_webhook_secret_is_read_from_the_environment() -> None:
    env = {"ANDON_HOME": "/tmp/x", "ANDON_WEBHOOK_SECRET": SECRET}
    assert Settings.from_env(env).webhook_secret == SECRET
    assert Settings.from_env({"ANDON_HOME": "/tmp/x"}).webhook_secret is None


@pytest.mark.parametrize("registered_as", ["path", "file URL"])
def test_a_signed_github_push_to_trunk_queues_a_pipeline_for_the_pushed_commit(
    make_hooks: Callable[[str | None], Hooks], registered_as: str
) -> None:
    hooks = make_hooks(SECRET)
    url = f"file://{hooks.repo}"
    hooks.register(str(hooks.repo) if registered_as == "path" else url)
    sha = commit(hooks.repo, "app.py", "print('v2')\n")

    response = hooks.github(github_push(url, sha))

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["provider"] == "github" and body["projects"] == ["billing"]
    (pipeline,) = hooks.pipelines()
    assert body["queued"] == [pipeline.id]
    assert (pipeline.commit, pipeline.branch, pipeline.trigger) == (sha, "main", "hook")
    assert pipeline.on_trunk is True and pipeline.status is PipelineStatus.QUEUED


def test_a_push_to_another_branch_queues_a_pipeline_that_is_not_on_trunk(hooks: Hooks) -> None:
    git(hooks.repo, "checkout", "-qb", "feature/login")
    sha = commit(hooks.repo, "login.py", "print('login')\n")

    response = hooks.github(github_push(f"file://{hooks.repo}", sha, branch="feature/login"))

    assert response.status_code == 202, response.text
    (pipeline,) = hooks.pipelines()
    assert (pipeline.commit, pipeline.branch) == (sha, "feature/login")
    assert pipeline.on_trunk is False


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(sign("another secret", b"{}"), id="another-secret"),
        pytest.param("", id="missing"),
        pytest.param("sha256=not-hex", id="garbage"),
        pytest.param("sha256=\xe9t\xe9".encode("latin-1"), id="not-ascii"),
    ],
)
def test_a_github_push_with_a_wrong_signature_is_refused_and_queues_nothing(
    hooks: Hooks, signature: str | bytes
) -> None:
    sha = git(hooks.repo, "rev-parse", "HEAD")
    response = hooks.github(github_push(f"file://{hooks.repo}", sha), signature=signature)

    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message"}
    assert error["code"] == "unauthorized"
    assert "X-Hub-Signature-256" in error["message"] and "secret" in error["message"]
    assert hooks.pipelines() == []


def test_a_signature_of_another_body_is_refused(hooks: Hooks) -> None:
    sha = git(hooks.repo, "rev-parse", "HEAD")
    signed_for = sign(SECRET, json.dumps(github_push("elsewhere", sha)).encode())
    response = hooks.github(github_push(f"file://{hooks.repo}", sha), signature=signed_for)
    assert response.status_code == 401
    assert hooks.pipelines() == []


def test_without_a_secret_configured_webhooks_are_refused_naming_the_variable(
    make_hooks: Callable[[str | None], Hooks],
) -> None:
    hooks = make_hooks(None)
    hooks.register(str(hooks.repo))
    sha = git(hooks.repo, "rev-parse", "HEAD")

    response = hooks.github(github_push(f"file://{hooks.repo}", sha))

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "configuration"
    assert "ANDON_WEBHOOK_SECRET" in error["message"]
    assert hooks.pipelines() == []


def test_a_gitlab_push_with_the_right_token_queues_a_pipeline(hooks: Hooks) -> None:
    sha = commit(hooks.repo, "app.py", "print('v2')\n")

    response = hooks.gitlab(gitlab_push(f"file://{hooks.repo}.git", sha))

    assert response.status_code == 202, response.text
    assert response.json()["provider"] == "gitlab"
    (pipeline,) = hooks.pipelines()
    assert (pipeline.commit, pipeline.branch, pipeline.on_trunk) == (sha, "main", True)


@pytest.mark.parametrize("token", ["wrong", "", None], ids=["wrong", "empty", "missing"])
def test_a_gitlab_push_with_a_wrong_token_is_refused(hooks: Hooks, token: str | None) -> None:
    sha = git(hooks.repo, "rev-parse", "HEAD")
    response = hooks.gitlab(gitlab_push(f"file://{hooks.repo}", sha), token=token)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthorized" and "X-Gitlab-Token" in error["message"]
    assert hooks.pipelines() == []


def test_a_ping_is_answered_and_queues_nothing(hooks: Hooks) -> None:
    ping = {"zen": "Keep it logically awesome.", "hook_id": 1, "repository": {}}
    response = hooks.github(ping, event="ping")
    assert response.status_code == 202
    assert response.json() == {"provider": "github", "event": "ping", "queued": []}
    assert hooks.pipelines() == []


def test_events_other_than_pushes_are_ignored(hooks: Hooks) -> None:
    response = hooks.github({"action": "opened"}, event="issues")
    assert response.status_code == 202
    assert response.json()["queued"] == [] and "push" in response.json()["ignored"]
    assert hooks.pipelines() == []


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_a_deleted_branch_is_ignored(hooks: Hooks, provider: str) -> None:
    url = f"file://{hooks.repo}"
    if provider == "github":
        response = hooks.github(github_push(url, ZEROS, branch="old"))
    else:
        response = hooks.gitlab(gitlab_push(url, ZEROS, branch="old"))
    assert response.status_code == 202
    assert response.json()["queued"] == [] and response.json()["ignored"]
    assert hooks.pipelines() == []


def test_a_pushed_tag_is_ignored(hooks: Hooks) -> None:
    payload = github_push(f"file://{hooks.repo}", git(hooks.repo, "rev-parse", "HEAD"))
    payload["ref"] = "refs/tags/v1.0"
    assert hooks.github(payload).json()["queued"] == []
    assert hooks.pipelines() == []


def test_a_signed_body_that_is_not_json_is_a_bad_request(hooks: Hooks) -> None:
    response = hooks.github(b"ref=refs/heads/main&after=abc")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert "not JSON" in response.json()["error"]["message"]


def test_a_request_from_neither_github_nor_gitlab_is_a_bad_request(hooks: Hooks) -> None:
    response = hooks.client.post("/api/v1/hooks/git", json={"ref": "refs/heads/main"})
    assert response.status_code == 400
    assert "X-GitHub-Event" in response.json()["error"]["message"]


def test_the_same_commit_pushed_twice_queues_one_pipeline(hooks: Hooks) -> None:
    sha = commit(hooks.repo, "app.py", "print('v2')\n")
    payload = github_push(f"file://{hooks.repo}", sha)

    first = hooks.github(payload).json()
    again = hooks.github(payload).json()

    (pipeline,) = hooks.pipelines()
    assert first["queued"] == [pipeline.id]
    assert again["queued"] == [] and again["projects"] == ["billing"]


def test_a_push_for_an_unregistered_repository_queues_nothing(hooks: Hooks) -> None:
    sha = git(hooks.repo, "rev-parse", "HEAD")
    response = hooks.github(github_push("https://github.invalid/acme/other.git", sha))
    assert response.status_code == 202
    assert response.json()["projects"] == [] and response.json()["queued"] == []


@pytest.mark.parametrize(
    "spelling",
    [
        "https://github.com/acme/billing.git",
        "https://github.com/acme/billing",
        "https://github.com/Acme/Billing/",
        "http://token:x-oauth@github.com/acme/billing.git",
        "git@github.com:acme/billing.git",
        "ssh://git@github.com/acme/billing.git",
        "git://github.com/acme/billing.git",
    ],
)
def test_every_spelling_of_a_repository_url_normalizes_alike(spelling: str) -> None:
    assert normalize_url(spelling) == "github.com/acme/billing"


def test_a_file_url_and_its_path_normalize_alike() -> None:
    assert normalize_url("file:///srv/git/billing") == normalize_url("/srv/git/billing")
    assert normalize_url("file:///srv/git/billing.git") == normalize_url("/srv/git/billing")
    assert normalize_url("https://github.com/acme/billing") != normalize_url(
        "https://github.com/acme/billing-api"
    )


def test_a_local_commit_on_a_branch_queues_a_pipeline_for_it(hooks: Hooks) -> None:
    git(hooks.repo, "checkout", "-qb", "spike")
    sha = commit(hooks.repo, "spike.py", "print('spike')\n")

    response = hooks.client.post(
        "/api/v1/hooks/local",
        json={"source": str(hooks.repo), "ref": "refs/heads/spike", "commit": sha},
    )

    assert response.status_code == 202, response.text
    (pipeline,) = hooks.pipelines()
    assert response.json() == {"projects": ["billing"], "queued": [pipeline.id]}
    assert (pipeline.commit, pipeline.branch, pipeline.on_trunk) == (sha, "spike", False)


def test_a_local_commit_on_trunk_is_left_to_the_poller(hooks: Hooks) -> None:
    sha = commit(hooks.repo, "app.py", "print('v2')\n")
    response = hooks.client.post(
        "/api/v1/hooks/local",
        json={"source": str(hooks.repo), "ref": "refs/heads/main", "commit": sha},
    )
    assert response.status_code == 202
    assert response.json() == {"projects": ["billing"], "queued": []}
    assert hooks.pipelines() == []


def test_a_local_commit_in_an_unregistered_repository_changes_nothing(hooks: Hooks) -> None:
    response = hooks.client.post(
        "/api/v1/hooks/local", json={"source": "/nowhere", "ref": "refs/heads/x", "commit": "a"}
    )
    assert response.status_code == 202
    assert response.json() == {"projects": [], "queued": []}


@pytest.mark.parametrize(
    ("ref", "new"),
    [
        pytest.param("refs/tags/v1.0", None, id="a-tag"),
        pytest.param("refs/notes/commits", None, id="notes"),
        pytest.param("refs/heads/old", ZEROS, id="a-deleted-branch"),
    ],
)
def test_a_local_push_of_anything_but_a_branch_commit_queues_nothing(
    hooks: Hooks, ref: str, new: str | None
) -> None:
    """What the post-receive hook reports for every ref a push moved."""
    sha = new or git(hooks.repo, "rev-parse", "HEAD")
    response = hooks.client.post(
        "/api/v1/hooks/local", json={"source": str(hooks.repo), "ref": ref, "commit": sha}
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"projects": ["billing"], "queued": []}
    assert hooks.pipelines() == []
