"""End to end, as a team uses it: a real background server watches the example shop's
trunk in a real git repository; commits become pipelines by themselves, a red trunk stops
the line, protected environments refuse newer artifacts, a fix restarts the line, and a
server killed mid-pipeline reruns what it interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from andon.testing import git, home_bearer

# Two of the four long stories per worker, one after the other: all four at once on two
# cores make each so slow that their waits time out.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stories-b")]


def andon(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "andon", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 90.0) -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


class Server:
    """A background Andon server started with the real CLI."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.http = httpx.Client(base_url=f"{self.url}/api/v1", timeout=30)

    def start(self) -> None:
        andon("start", "--port", str(self.port))
        self.http.headers.update(home_bearer())

    def get(self, path: str) -> Any:
        return self.http.get(path).json()

    def pipeline(self, commit: str) -> dict[str, Any] | None:
        for pipeline in self.get("/pipelines?limit=50"):
            if pipeline["commit"] == commit and pipeline["trigger"] != "manual":
                return dict(self.get(f"/pipelines/{pipeline['id']}"))
        return None

    def finished(self, commit: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            found = self.pipeline(commit)
            done = {"success", "failed", "canceled", "interrupted"}
            return found if found and found["status"] in done else None

        return dict(wait_for(f"the pipeline of {commit[:12]}", probe))


@pytest.fixture
def server(port: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("ANDON_POLL_INTERVAL", "0.2")
    monkeypatch.setenv("ANDON_URL", f"http://127.0.0.1:{port}")
    running = Server(port)
    running.start()
    try:
        yield running
    finally:
        running.http.close()
        andon("stop", check=False)


def commit(repo: Path, path: str, text: str, message: str) -> str:
    target = repo / path
    target.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


BROKEN_TEST = """

def test_the_cart_total_includes_a_gift_wrap_fee():
    assert 1 + 1 == 3, "the fee is missing"
"""


@pytest.mark.timeout(240)
def test_commits_flow_to_artifacts_and_a_red_trunk_stops_the_line(
    server: Server, shop_monorepo: Path
) -> None:
    andon("project", "add", str(shop_monorepo), "--dir", "examples/shop")
    first = server.finished(git(shop_monorepo, "rev-parse", "HEAD"))
    assert first["status"] == "success", first
    shards = [job for job in first["jobs"] if job["job"] == "unit"]
    assert len(shards) == 2
    one, two = shards
    assert one["started_at"] < two["finished_at"] and two["started_at"] < one["finished_at"]

    # A commit on trunk becomes a green pipeline with no other action; the test shards'
    # inputs did not change, so their results are reused.
    tests = shop_monorepo / "examples/shop/tests/test_shop_api.py"
    green_sha = commit(shop_monorepo, "examples/shop/README.md", "# The shop\n", "docs")
    green = server.finished(green_sha)
    assert green["status"] == "success", green
    assert {job["status"] for job in green["jobs"] if job["job"] == "unit"} == {"cached"}
    verified = andon("artifact", "verify", green["artifact"], "--json")
    assert json.loads(verified.stdout)["verified"] is True

    # A failing test stops the line by itself.
    red_sha = commit(
        shop_monorepo,
        str(tests.relative_to(shop_monorepo)),
        tests.read_text() + BROKEN_TEST,
        "add gift wrap",
    )
    red = server.finished(red_sha)
    assert red["status"] == "failed"
    line = json.loads(andon("line", "status", "--json").stdout)
    assert line["state"] == "stopped" and line["cause"] == "pipeline"
    assert "test_the_cart_total_includes_a_gift_wrap_fee" in line["reason"]

    # A newer artifact (built on a branch) is refused for prod, named with the cause;
    # the last green one is still allowed, and so is the unprotected test environment.
    git(shop_monorepo, "checkout", "-qb", "feature", green_sha)
    init = shop_monorepo / "examples/shop/shop/__init__.py"
    feature_sha = commit(
        shop_monorepo,
        str(init.relative_to(shop_monorepo)),
        init.read_text() + "# feature work\n",
        "feature work",
    )
    git(shop_monorepo, "checkout", "-q", "main")
    ran = andon("pipeline", "run", "--ref", "feature", "--wait", "--json")
    feature = json.loads(ran.stdout)
    assert feature["status"] == "success" and feature["commit"] == feature_sha
    assert feature["artifact"] != green["artifact"]
    refused = server.http.post(
        "/projects/shop/promotions", json={"artifact": feature["artifact"], "environment": "prod"}
    )
    assert refused.status_code == 409
    message = refused.json()["error"]["message"]
    assert "the line is stopped" in message and red_sha[:12] in message
    assert "'prod' is protected" in message
    for artifact, environment in ((green["artifact"], "prod"), (feature["artifact"], "test")):
        allowed = server.http.post(
            "/projects/shop/promotions", json={"artifact": artifact, "environment": environment}
        )
        assert allowed.status_code == 201, allowed.text

    # The fix restarts the line by itself.
    fixed_sha = commit(
        shop_monorepo,
        str(tests.relative_to(shop_monorepo)),
        tests.read_text().replace(BROKEN_TEST, ""),
        "fix the test",
    )
    assert server.finished(fixed_sha)["status"] == "success"
    line = json.loads(andon("line", "status", "--json").stdout)
    assert line["state"] == "running"
    assert [event["state"] for event in line["history"][:2]] == ["running", "stopped"]


SLOW_SPEC = """\
service: {name: slow}
processes: {web: {command: "true"}}
build:
  wait: {command: "echo started; sleep 4; echo finished"}
package: {paths: [andon.yaml]}
environments: {prod: {}}
"""


def test_a_server_killed_mid_pipeline_marks_it_interrupted_and_runs_it_again(
    server: Server, tmp_path: Path, repo_factory: Any, andon_home: Path
) -> None:
    repo = repo_factory(tmp_path / "slow", {"andon.yaml": SLOW_SPEC})
    andon("project", "add", str(repo))
    wait_for(
        "the job to run",
        lambda: (
            any(job["status"] == "running" for job in server.get("/pipelines/1")["jobs"])
            if server.get("/pipelines?limit=1")
            else None
        ),
    )
    record = json.loads((andon_home / "server.json").read_text())
    (pid_file,) = (andon_home / "logs" / "pipelines" / "1").glob("*.pid")
    job_pid = int(pid_file.read_text().split()[0])
    os.kill(record["pid"], signal.SIGKILL)
    wait_for("the server to die", lambda: andon("status", check=False).returncode == 1)
    server.start()
    interrupted = wait_for(
        "pipeline 1 to be interrupted",
        lambda: (p := server.get("/pipelines/1"))["status"] == "interrupted" and p,
    )
    assert "server stopped" in interrupted["error"]
    # The orphaned job of the dead server was stopped, not left running.
    assert not Path(f"/proc/{job_pid}").exists() or "Z" in _state(job_pid)
    rerun = wait_for(
        "the rerun to finish",
        lambda: (p := server.get("/pipelines/2"))["status"] in {"success", "failed"} and p,
    )
    assert rerun["status"] == "success" and rerun["rerun_of"] == 1
    assert rerun["commit"] == interrupted["commit"]


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return "gone"
