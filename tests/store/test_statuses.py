"""The status vocabulary: string values as stored, and which statuses are final."""

from __future__ import annotations

from andon.store import JobStatus, LineState, PipelineStatus


def test_pipeline_statuses_are_finished_once_they_can_change_no_more() -> None:
    finished = {status for status in PipelineStatus if status.finished}

    assert finished == {
        PipelineStatus.SUCCESS,
        PipelineStatus.FAILED,
        PipelineStatus.CANCELED,
        PipelineStatus.INTERRUPTED,
    }


def test_job_statuses_are_finished_unless_pending_or_running() -> None:
    unfinished = {status for status in JobStatus if not status.finished}

    assert unfinished == {JobStatus.PENDING, JobStatus.RUNNING}


def test_only_a_success_or_a_reused_success_is_ok() -> None:
    assert {status for status in JobStatus if status.ok} == {JobStatus.SUCCESS, JobStatus.CACHED}


def test_statuses_are_their_stored_strings() -> None:
    assert PipelineStatus("interrupted") is PipelineStatus.INTERRUPTED
    assert JobStatus("infra_failed") is JobStatus.INFRA_FAILED
    assert LineState("stopped") is LineState.STOPPED
    assert f"{JobStatus.CACHED}" == "cached"
