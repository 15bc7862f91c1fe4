"""Planning a pipeline and deciding its next step, driven by golden cases in
``cases/*.json``: the jobs of an andon.yaml, every job's state, how many jobs run and the
limit → the plan's order, the jobs to start and to skip, and the pipeline's status once
the skips are recorded and the starts are running."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from andon.errors import UsageError
from andon.pipeline import PlannedJob, assess_pipeline, decide_next, plan_pipeline
from andon.spec import AndonSpec
from andon.store import JobStatus, PipelineStatus

CASES = sorted((Path(__file__).parent / "cases").glob("*.json"))

BASE: dict[str, Any] = {
    "service": {"name": "shop"},
    "processes": {"web": {"command": "python -m shop"}},
    "environments": {"dev": {}},
}


def spec_of(fragment: dict[str, Any]) -> AndonSpec:
    return AndonSpec.model_validate({**BASE, **fragment})


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 12


@pytest.mark.parametrize("case", CASES, ids=lambda path: path.stem)
def test_golden_case(case: Path) -> None:
    data = json.loads(case.read_text("utf-8"))
    expected = data["expected"]
    plan = plan_pipeline(spec_of(data["spec"]))
    states = {job.name: JobStatus.PENDING for job in plan}
    states |= {name: JobStatus(value) for name, value in data["states"].items()}

    decision = decide_next(plan, states, running=data["running"], limit=data["limit"])
    states |= {name: JobStatus.SKIPPED for name in decision.skip}
    states |= {name: JobStatus.RUNNING for name in decision.start}

    if "plan" in expected:
        assert [job.name for job in plan] == expected["plan"]
    if "package_command" in expected:
        assert plan[-1].command == expected["package_command"]
    assert decision.start == expected["start"]
    assert decision.skip == expected["skip"]
    assert assess_pipeline(states) == PipelineStatus(expected["status"])


def test_a_planned_job_carries_what_its_spec_says() -> None:
    spec = spec_of(
        {
            "build": {"compile": {"command": "make"}},
            "test": {
                "unit": {
                    "command": "pytest",
                    "needs": ["compile"],
                    "parallel": 2,
                    "timeout": "5m",
                    "retries": 1,
                    "inputs": ["src/**/*.py"],
                    "cache": [".cache/pip"],
                    "cache_key": ["requirements.txt"],
                    "reports": ["reports/*.xml"],
                    "env": {"MODE": "fast"},
                }
            },
        }
    )

    first, second = (job for job in plan_pipeline(spec) if job.job == "unit")

    assert first == PlannedJob(
        name="unit[1/2]",
        job="unit",
        stage="test",
        command="pytest",
        needs=("compile",),
        shard_index=0,
        shard_total=2,
        timeout_seconds=300.0,
        retries=1,
        inputs=("src/**/*.py",),
        cache=(".cache/pip",),
        cache_key=("requirements.txt",),
        reports=("reports/*.xml",),
        env={"MODE": "fast"},
    )
    assert (second.name, second.shard_index, second.shard_total) == ("unit[2/2]", 1, 2)


def test_the_package_job_needs_every_other_job_and_has_the_defaults() -> None:
    spec = spec_of(
        {"build": {"a": {"command": "a", "parallel": 2}}, "jobs": {"b": {"command": "b"}}}
    )

    package = plan_pipeline(spec)[-1]

    assert package.stage == "package"
    assert package.needs == ("a[1/2]", "a[2/2]", "b")
    assert package.command == ""
    assert package.timeout_seconds == 600.0


def test_a_planned_job_survives_a_round_trip_through_plain_data() -> None:
    spec = spec_of({"test": {"unit": {"command": "pytest", "parallel": 2, "env": {"A": "1"}}}})

    for job in plan_pipeline(spec):
        data = json.loads(json.dumps(job.to_dict()))
        assert PlannedJob.from_dict(data) == job
        assert hash(PlannedJob.from_dict(data)) == hash(job)


def test_a_job_named_package_is_refused_with_what_to_do() -> None:
    spec = spec_of({"jobs": {"package": {"command": "make dist"}}})

    with pytest.raises(UsageError, match="rename this job"):
        plan_pipeline(spec)


def test_cyclic_needs_are_refused() -> None:
    # The loader refuses cycles; a spec built in code reaches the planner unchecked.
    spec = spec_of(
        {"build": {"a": {"command": "a", "needs": ["b"]}, "b": {"command": "b", "needs": ["a"]}}}
    )

    with pytest.raises(UsageError, match="a, b need each other in a cycle"):
        plan_pipeline(spec)


def test_an_unknown_need_is_refused() -> None:
    spec = spec_of({"build": {"a": {"command": "a", "needs": ["ghost"]}}})

    with pytest.raises(UsageError, match="unknown job 'ghost'"):
        plan_pipeline(spec)


def test_a_name_used_in_two_sections_is_refused() -> None:
    spec = spec_of({"build": {"a": {"command": "a"}}, "jobs": {"a": {"command": "again"}}})

    with pytest.raises(UsageError, match="two jobs are named 'a'"):
        plan_pipeline(spec)


def test_jobs_missing_from_the_states_count_as_pending() -> None:
    plan = plan_pipeline(spec_of({"build": {"a": {"command": "a"}}}))

    decision = decide_next(plan, {}, running=0, limit=4)

    assert decision.start == ["a"]


def test_a_pipeline_with_a_job_running_after_a_failure_is_still_running() -> None:
    states = {"a": JobStatus.FAILED, "b": JobStatus.RUNNING}

    assert assess_pipeline(states) is PipelineStatus.RUNNING
    assert assess_pipeline(states | {"b": JobStatus.SUCCESS}) is PipelineStatus.FAILED
