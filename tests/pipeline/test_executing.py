"""The pipeline runner end to end in one process: a real git repository, a real SQLite
store, jobs as real processes, the artifact in a real content-addressed store."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from andon.pipeline import PipelineRunner, line_view
from andon.settings import Settings
from andon.store import JobStatus, PipelineRecord, PipelineStatus, Store, open_store
from andon.testing import git

SPEC = """\
service: {name: svc}
processes: {web: {command: python app.py}}
build:
  compile: {command: "python -m compileall -q app.py"}
test:
  unit:
    command: python -m pytest -q -p no:cacheprovider --junitxml=reports/junit.xml tests
    needs: [compile]
    parallel: 2
    reports: [reports/junit.xml]
package:
  paths: [app.py]
environments:
  test: {}
  prod: {protected: true}
"""

PASSING = """\
import time

def test_one():
    time.sleep(0.3)

def test_two():
    time.sleep(0.3)

def test_three():
    pass
"""

SHARDING = """\
import os, zlib

def pytest_collection_modifyitems(config, items):
    total = int(os.environ.get("ANDON_SHARD_TOTAL", "1"))
    index = int(os.environ.get("ANDON_SHARD_INDEX", "0"))
    items[:] = [i for i in items if zlib.crc32(i.nodeid.encode()) % total == index]
"""


def commit(repo: Path, files: dict[str, str], message: str = "change") -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "svc"
    path.mkdir()
    git(path, "init", "-qb", "main")
    commit(
        path,
        {
            "andon.yaml": SPEC,
            "app.py": "print('hi')\n",
            "tests/test_app.py": PASSING,
            "tests/conftest.py": SHARDING,
        },
    )
    return path


@pytest.fixture
def store(andon_home: Path) -> Iterator[Store]:
    with open_store(Settings.from_env().database_url) as opened:
        yield opened


@pytest.fixture
def runner(store: Store) -> PipelineRunner:
    return PipelineRunner(store, Settings.from_env(), concurrency=4)


def register(store: Store, repo: Path) -> None:
    store.projects.add(
        name="svc",
        source=str(repo),
        subdir="",
        trunk="main",
        service="svc",
        commit=git(repo, "rev-parse", "HEAD"),
        spec={},
    )


def run(store: Store, runner: PipelineRunner, sha: str, *, on_trunk: bool = True) -> PipelineRecord:
    pipeline = store.pipelines.create(
        project="svc",
        commit=sha,
        branch="main" if on_trunk else "x",
        trigger="manual",
        on_trunk=on_trunk,
    )
    return asyncio.run(runner.run(pipeline.id))


def jobs(store: Store, pipeline: PipelineRecord) -> dict[str, JobStatus]:
    return {job.name: job.status for job in store.jobs.list_for_pipeline(pipeline.id)}


def test_a_green_commit_runs_shards_in_parallel_and_yields_a_verified_artifact(
    store: Store, runner: PipelineRunner, repo: Path
) -> None:
    register(store, repo)
    done = run(store, runner, git(repo, "rev-parse", "HEAD"))
    assert done.status is PipelineStatus.SUCCESS, store.jobs.list_for_pipeline(done.id)
    assert set(jobs(store, done).values()) == {JobStatus.SUCCESS}
    one, two = (store.jobs.get_by_name(done.id, f"unit[{i}/2]") for i in (1, 2))
    assert one.started_at and two.started_at and one.finished_at and two.finished_at
    assert one.started_at < two.finished_at and two.started_at < one.finished_at, "not parallel"
    assert one.tests and two.tests and one.tests["total"] + two.tests["total"] == 3
    assert done.artifact is not None
    manifest = runner.artifacts.verify(done.artifact)
    assert set(manifest.files) == {"app.py"}
    assert store.artifacts.for_commit("svc", done.commit) is not None


def test_an_unchanged_rerun_is_served_from_cache(
    store: Store, runner: PipelineRunner, repo: Path
) -> None:
    register(store, repo)
    sha = git(repo, "rev-parse", "HEAD")
    first = run(store, runner, sha)
    again = run(store, runner, sha)
    assert first.status is again.status is PipelineStatus.SUCCESS
    assert set(jobs(store, again).values()) == {JobStatus.CACHED}
    unit = store.jobs.get_by_name(again.id, "unit[1/2]")
    assert unit.cached_from == store.jobs.get_by_name(first.id, "unit[1/2]").id
    assert again.artifact == first.artifact


def test_a_failing_test_stops_the_line_and_a_fix_restarts_it(
    store: Store, runner: PipelineRunner, repo: Path
) -> None:
    register(store, repo)
    green = run(store, runner, git(repo, "rev-parse", "HEAD"))
    broken = commit(
        repo, {"tests/test_app.py": PASSING + "\ndef test_broken():\n    assert 1 == 2\n"}
    )
    red = run(store, runner, broken)
    assert red.status is PipelineStatus.FAILED
    line = line_view(store, "svc")
    assert line.stopped and line.pipeline_id == red.id
    assert "test_broken" in line.reason and "unit[" in line.reason
    assert store.pipelines.last_green_on_trunk("svc").id == green.id  # type: ignore[union-attr]
    fixed = run(store, runner, commit(repo, {"tests/test_app.py": PASSING}))
    assert fixed.status is PipelineStatus.SUCCESS
    assert not line_view(store, "svc").stopped
    assert [e.state for e in store.line.history("svc")] == ["running", "stopped"]


def test_a_branch_failure_leaves_the_line_running(
    store: Store, runner: PipelineRunner, repo: Path
) -> None:
    register(store, repo)
    broken = commit(repo, {"tests/test_app.py": "def test_no():\n    assert False\n"})
    assert run(store, runner, broken, on_trunk=False).status is PipelineStatus.FAILED
    assert not line_view(store, "svc").stopped


def test_an_invalid_spec_fails_at_once_with_located_errors_and_stops_the_line(
    store: Store, runner: PipelineRunner, repo: Path
) -> None:
    register(store, repo)
    sha = commit(repo, {"andon.yaml": SPEC.replace("parallel: 2", "parallel: two")})
    failed = run(store, runner, sha)
    assert failed.status is PipelineStatus.FAILED
    assert failed.error is not None
    assert failed.error.startswith("andon.yaml:9:15: test.unit.parallel: expected a whole number")
    log = runner.log_dir(failed.id) / "pipeline.log"
    assert log.read_text().splitlines()[0] == failed.error.splitlines()[0]
    assert store.jobs.list_for_pipeline(failed.id) == []
    assert line_view(store, "svc").stopped


def test_a_flaky_test_passes_on_retry_and_is_recorded(
    store: Store, runner: PipelineRunner, repo: Path
) -> None:
    flaky_spec = SPEC.replace("parallel: 2", "retries: 1")
    flaky_test = (
        "import pathlib\n\ndef test_wobbly():\n    marker = pathlib.Path('marker')\n"
        "    if not marker.exists():\n        marker.write_text('x')\n"
        "        raise AssertionError('fails the first time')\n"
    )
    register(store, repo)
    sha = commit(repo, {"andon.yaml": flaky_spec, "tests/test_app.py": flaky_test})
    done = run(store, runner, sha)
    assert done.status is PipelineStatus.SUCCESS
    unit = store.jobs.get_by_name(done.id, "unit")
    assert unit.attempts == 2
    assert list(unit.flaky) == ["tests.test_app::test_wobbly"]
    (summary,) = store.flaky.summary("svc")
    assert summary.count == 1 and summary.test in unit.flaky
    assert not line_view(store, "svc").stopped


def test_a_missing_command_fails_its_job_and_skips_what_needs_it(
    store: Store, runner: PipelineRunner, repo: Path
) -> None:
    register(store, repo)
    sha = commit(
        repo, {"andon.yaml": SPEC.replace("python -m compileall -q app.py", "no-such-tool --build")}
    )
    done = run(store, runner, sha)
    states = jobs(store, done)
    assert states["compile"] is JobStatus.FAILED
    assert "command not found" in store.jobs.get_by_name(done.id, "compile").reason
    assert states["unit[1/2]"] is states["package"] is JobStatus.SKIPPED
    assert done.artifact is None


def test_a_missing_junit_report_is_a_warning_and_the_exit_code_judges(
    store: Store, runner: PipelineRunner, repo: Path
) -> None:
    register(store, repo)
    spec = SPEC.replace("--junitxml=reports/junit.xml ", "")
    done = run(store, runner, commit(repo, {"andon.yaml": spec}))
    assert done.status is PipelineStatus.SUCCESS
    log = Path(store.jobs.get_by_name(done.id, "unit[1/2]").log_path or "")
    assert "the job is judged by its exit code" in log.read_text()


def test_a_repository_that_has_gone_fails_the_pipeline_without_stopping_the_line(
    store: Store, runner: PipelineRunner, repo: Path
) -> None:
    register(store, repo)
    sha = git(repo, "rev-parse", "HEAD")
    shutil.rmtree(repo)
    done = run(store, runner, sha)
    assert done.status is PipelineStatus.FAILED
    assert done.error and str(repo) in done.error
    assert not line_view(store, "svc").stopped


def test_a_job_past_its_timeout_fails_and_the_pipeline_goes_on_judging(
    store: Store, runner: PipelineRunner, repo: Path
) -> None:
    register(store, repo)
    spec = SPEC.replace(
        '{command: "python -m compileall -q app.py"}', '{command: "sleep 30", timeout: 300ms}'
    )
    done = run(store, runner, commit(repo, {"andon.yaml": spec}))
    compile_job = store.jobs.get_by_name(done.id, "compile")
    assert compile_job.status is JobStatus.FAILED
    assert "timed out" in compile_job.reason
    assert compile_job.duration is not None and compile_job.duration < 10


def test_a_commit_sharing_an_earlier_artifact_is_not_packaged_again_on_rerun(
    store: Store, runner: PipelineRunner, repo: Path
) -> None:
    register(store, repo)
    first = run(store, runner, git(repo, "rev-parse", "HEAD"))
    # Only a test changes: the packaged files, and so the artifact, stay the same.
    sha = commit(repo, {"tests/test_app.py": PASSING + "\ndef test_more():\n    pass\n"})
    second = run(store, runner, sha)
    assert second.artifact == first.artifact
    rerun = run(store, runner, sha)
    package = store.jobs.get_by_name(rerun.id, "package")
    assert package.status is JobStatus.CACHED
    assert rerun.artifact == first.artifact
