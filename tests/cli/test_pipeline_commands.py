"""End to end: the real ``andon`` command drives pipelines, the line, artifacts, flaky
tests and git hooks through a real server process that polls real git repositories and
runs jobs as real processes."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from andon.cli.hooks import MARKER
from andon.testing import git, home_bearer

pytestmark = pytest.mark.e2e


SPEC = """\
service: {name: web}
processes: {web: {command: python app.py}}
build:
  compile: {command: "echo compiled the app"}
test:
  unit:
    command: "echo shard $ANDON_SHARD_INDEX of $ANDON_SHARD_TOTAL says hello"
    needs: [compile]
    parallel: 2
package:
  paths: [app.py]
environments:
  test: {}
  prod: {protected: true}
"""

FAILING = SPEC.replace(
    '"echo shard $ANDON_SHARD_INDEX of $ANDON_SHARD_TOTAL says hello"',
    '"echo the total is wrong; exit 3"',
)

SLOW = SPEC.replace('"echo compiled the app"', '"echo first; sleep 1.5; echo second"')

FLAKY = f"""\
service: {{name: web}}
processes: {{web: {{command: python app.py}}}}
test:
  unit:
    command: {sys.executable} -m pytest -q -p no:cacheprovider --junitxml=reports/junit.xml tests
    retries: 1
    reports: [reports/junit.xml]
package:
  paths: [app.py]
environments:
  prod: {{}}
"""

WOBBLY = """\
import pathlib


def test_wobbly():
    marker = pathlib.Path("marker")
    if not marker.exists():
        marker.write_text("failed once")
        raise AssertionError("fails the first time only")
"""


def andon(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "andon", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
        check=False,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
    )


def ok(*args: str) -> subprocess.CompletedProcess[str]:
    result = andon(*args)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def one_error_line(result: subprocess.CompletedProcess[str], *, code: int = 1) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def commit(repo: Path, files: dict[str, str], message: str = "change") -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


class Server:
    """The server started by ``andon start``, asked directly where the CLI has no verb."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.url}/api/v1{path}", headers=home_bearer(), timeout=10)
        response.raise_for_status()
        return response.json()

    def wait_for(self, what: str, find: Callable[[], Any], timeout: float = 30.0) -> Any:
        """``find()``'s first truthy answer; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = find()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} after {timeout}s")
            time.sleep(0.1)

    def pipelines(self, project: str = "web") -> list[dict[str, Any]]:
        return list(self.get(f"/pipelines?project={project}&limit=100"))

    def first_finished_pipeline(self, project: str = "web") -> dict[str, Any]:
        """The project's first pipeline (the poller queues it at registration), once it
        has finished: the one whose jobs really ran."""

        def find() -> dict[str, Any] | None:
            pipelines = sorted(self.pipelines(project), key=lambda p: p["id"])
            if pipelines and pipelines[0]["finished_at"]:
                return pipelines[0]
            return None

        return dict(self.wait_for("finished pipeline", find))


@pytest.fixture
def server(port: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("ANDON_POLL_INTERVAL", "0.2")
    started = andon("start", "--port", str(port))
    assert started.returncode == 0, started.stderr
    try:
        yield Server(f"http://127.0.0.1:{port}")
    finally:
        stopped = andon("stop")
        assert stopped.returncode == 0, stopped.stderr


@pytest.fixture
def make_repo(tmp_path: Path, repo_factory: Callable[..., Path]) -> Callable[..., Path]:
    def make(spec: str, files: dict[str, str] | None = None) -> Path:
        return repo_factory(
            tmp_path / "web", {"andon.yaml": spec, "app.py": "print('hi')\n", **(files or {})}
        )

    return make


def test_a_green_pipeline_runs_and_its_jobs_stages_and_logs_can_be_seen(
    server: Server, make_repo: Callable[..., Path]
) -> None:
    repo = make_repo(SPEC)
    ok("project", "add", str(repo))

    run = ok("pipeline", "run", "--wait")

    for job in ("compile", "unit[1/2]", "unit[2/2]", "package"):
        assert re.search(rf"✓ {re.escape(job)} +(success|cached)", run.stderr), run.stderr
    assert re.search(r"Pipeline #\d+ success in .*; artifact sha256:[0-9a-f]{64}\.", run.stdout)

    listed = json.loads(ok("pipeline", "list", "--json").stdout)
    assert {p["status"] for p in listed} == {"success"}
    assert "manual" in {p["trigger"] for p in listed}
    assert {p["commit"] for p in listed} == {git(repo, "rev-parse", "HEAD")}

    ran = server.first_finished_pipeline()
    shown = ok("pipeline", "show", str(ran["id"])).stdout
    assert f"Pipeline #{ran['id']}  web @ {ran['commit'][:12]} (main)  success" in shown
    stages = re.findall(r"stage (\d)", shown)
    assert stages == ["1", "2", "3"], shown
    assert re.search(r"unit\[1/2\] .* ← compile", shown)
    assert re.search(r"package .* ← compile, unit\[x2\]", shown)

    first_shard = ok("pipeline", "logs", str(ran["id"]), "unit[1/2]").stdout
    assert "shard 0 of 2 says hello" in first_shard and "shard 1" not in first_shard
    second_shard = ok("pipeline", "logs", str(ran["id"]), "unit[2/2]").stdout
    assert "shard 1 of 2 says hello" in second_shard
    followed = ok("pipeline", "logs", str(ran["id"]), "unit[2/2]", "-f")
    assert "shard 1 of 2 says hello" in followed.stdout
    assert "(unit[2/2]: success" in followed.stderr
    every = ok("pipeline", "logs", str(ran["id"])).stdout
    assert "── compile ──" in every and "compiled the app" in every

    missing = andon("pipeline", "logs", str(ran["id"]), "unit[3/2]")
    assert "unit[3/2]" in one_error_line(missing)


def test_following_a_running_job_prints_its_lines_and_ends_with_it(
    server: Server, make_repo: Callable[..., Path]
) -> None:
    ok("project", "add", str(make_repo(SLOW)))

    def compiling() -> int | None:
        for pipeline in server.pipelines():
            jobs = server.get(f"/pipelines/{pipeline['id']}")["jobs"]
            if any(j["name"] == "compile" and j["status"] == "running" for j in jobs):
                return int(pipeline["id"])
        return None

    pipeline_id = server.wait_for("running compile job", compiling)
    followed = ok("pipeline", "logs", str(pipeline_id), "compile", "--follow")

    assert followed.stdout.splitlines() == ["first", "second"]
    assert "(compile: success: exit code 0)" in followed.stderr
    job = next(j for j in server.get(f"/pipelines/{pipeline_id}")["jobs"] if j["name"] == "compile")
    assert job["status"] == "success"


def test_a_failing_job_fails_the_run_and_stops_the_line(
    server: Server, make_repo: Callable[..., Path]
) -> None:
    ok("project", "add", str(make_repo(FAILING)))

    run = andon("pipeline", "run", "--wait")

    assert run.returncode == 1, (run.stdout, run.stderr)
    assert re.search(r"✗ unit\[1/2\] +failed .*exit code 3", run.stderr), run.stderr
    assert re.search(r"- package +skipped", run.stderr), run.stderr
    assert re.search(r"See why: andon pipeline logs \d+ unit\[1/2\]", run.stdout)
    line = json.loads(ok("line", "status", "--json").stdout)
    assert line["state"] == "stopped" and line["cause"] == "pipeline"
    assert line["trunk"] == "failed" and "unit[1/2]" in line["reason"]
    assert "STOPPED (pipeline)" in ok("line", "status").stdout


def test_the_line_is_stopped_and_resumed_by_hand(
    server: Server, make_repo: Callable[..., Path]
) -> None:
    ok("project", "add", str(make_repo(SPEC)))
    # Once the first pipeline is green, nothing else moves the line during the test.
    server.first_finished_pipeline()

    stopped = ok("line", "stop", "--reason", "freeze for the audit")
    assert "Stopped the line of web: freeze for the audit" in stopped.stdout
    status = ok("line", "status").stdout
    assert "STOPPED (manual)" in status and "freeze for the audit" in status
    assert "Last green: pipeline #" in status
    assert json.loads(ok("line", "status", "--json").stdout)["state"] == "stopped"

    assert "runs again" in ok("line", "resume").stdout
    assert "is running; trunk is success" in ok("line", "status").stdout
    assert "running already" in one_error_line(andon("line", "resume"))


def test_artifacts_are_listed_and_verified_and_a_tampered_one_is_caught(
    server: Server, make_repo: Callable[..., Path], andon_home: Path
) -> None:
    repo = make_repo(SPEC)
    ok("project", "add", str(repo))
    built = server.first_finished_pipeline()
    assert built["status"] == "success"

    (artifact,) = json.loads(ok("artifact", "list", "--json").stdout)
    digest = artifact["digest"]
    assert digest == built["artifact"]
    assert artifact["project"] == "web" and artifact["commit"] == git(repo, "rev-parse", "HEAD")
    assert "is intact" in ok("artifact", "verify", digest).stdout
    assert "is intact" in ok("artifact", "verify", digest[:15]).stdout

    (archive,) = (andon_home / "artifacts" / "sha256").glob("*/*.tar.gz")
    archive.chmod(archive.stat().st_mode | stat.S_IWUSR)
    with archive.open("ab") as file:
        file.write(b"tampered")

    line = one_error_line(andon("artifact", "verify", digest))
    assert digest[:19] in line and "modified" in line
    response = httpx.post(
        f"{server.url}/api/v1/artifacts/{digest}/verify", headers=home_bearer(), timeout=10
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"


def test_a_test_that_passes_on_its_retry_is_reported_flaky(
    server: Server, make_repo: Callable[..., Path]
) -> None:
    ok("project", "add", str(make_repo(FLAKY, {"tests/test_app.py": WOBBLY})))
    ran = server.first_finished_pipeline()
    assert ran["status"] == "success"

    report = json.loads(ok("tests", "flaky", "--json").stdout)

    (test,) = report["tests"]
    assert test["test"] == "tests.test_app::test_wobbly"
    assert (test["project"], test["job"], test["count"]) == ("web", "unit", 1)
    assert test["commits"] == [ran["commit"]]
    assert test["needs_attention"] is False
    assert "tests.test_app::test_wobbly" in ok("tests", "flaky").stdout


def test_installed_hooks_tell_the_server_of_a_new_commit_at_once(
    server: Server, make_repo: Callable[..., Path]
) -> None:
    repo = make_repo(SPEC)
    ok("project", "add", str(repo))
    server.first_finished_pipeline()
    hooks = repo / ".git" / "hooks"
    (hooks / "post-commit").write_text("#!/bin/sh\necho mine\n")

    not_a_repo = one_error_line(andon("hooks", "install", str(repo / "missing")))
    assert "is not a git repository" in not_a_repo
    refused = one_error_line(andon("hooks", "install", str(repo)))
    assert "post-commit exists" in refused and "--force" in refused
    assert (hooks / "post-commit").read_text() == "#!/bin/sh\necho mine\n"
    ok("hooks", "install", str(repo), "--force")
    ok("hooks", "install", str(repo))

    for kind in ("post-commit", "post-receive"):
        text = (hooks / kind).read_text()
        assert text.startswith("#!/bin/sh\n") and MARKER in text and server.url in text
        assert (hooks / kind).stat().st_mode & stat.S_IXUSR
    # The poller watches trunk only: a pipeline for a branch commit comes from the hook.
    git(repo, "checkout", "-qb", "feature")
    sha = commit(repo, {"app.py": "print('feature')\n"}, "a feature")

    def branch_pipeline() -> dict[str, Any] | None:
        return next((p for p in server.pipelines() if p["commit"] == sha), None)

    pipeline = server.wait_for("pipeline for the branch commit", branch_pipeline, timeout=10)
    assert (pipeline["branch"], pipeline["trigger"], pipeline["on_trunk"]) == (
        "feature",
        "hook",
        False,
    )


def test_a_push_to_a_bare_repository_with_hooks_installed_queues_its_branch(
    server: Server, make_repo: Callable[..., Path], tmp_path: Path
) -> None:
    work = make_repo(SPEC)
    central = tmp_path / "central.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(central)], check=True)
    ok("project", "add", str(central))
    ok("hooks", "install", str(central))
    assert MARKER in (central / "hooks" / "post-receive").read_text()
    git(work, "remote", "add", "origin", str(central))

    git(work, "checkout", "-qb", "topic")
    sha = commit(work, {"app.py": "print('topic')\n"}, "a topic")
    git(work, "push", "-q", "origin", "topic")

    def topic_pipeline() -> dict[str, Any] | None:
        return next((p for p in server.pipelines() if p["commit"] == sha), None)

    pipeline = server.wait_for("pipeline for the pushed branch", topic_pipeline, timeout=10)
    assert (pipeline["branch"], pipeline["on_trunk"]) == ("topic", False)
