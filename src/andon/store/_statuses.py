"""The fixed vocabulary of states the store keeps for pipelines, jobs and the line.

Stored as their string values; the pipeline runner, the line and the API read and write them
through the records of ``_pipelines``, ``_jobs`` and ``_line``.
"""

from __future__ import annotations

from enum import StrEnum


class PipelineStatus(StrEnum):
    """Where a pipeline is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELED = "canceled"
    # The server stopped while the pipeline ran; found by ``unfinished()`` on restart.
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        """True once the pipeline can change no more."""
        return self not in {PipelineStatus.QUEUED, PipelineStatus.RUNNING}


class JobStatus(StrEnum):
    """Where one job run of a pipeline is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    # The job could not run (no workspace, runner died), which says nothing of the code.
    INFRA_FAILED = "infra_failed"
    # An earlier job's result was reused for the same cache key.
    CACHED = "cached"
    # Not run because a job it needs did not succeed.
    SKIPPED = "skipped"
    CANCELED = "canceled"

    @property
    def finished(self) -> bool:
        """True once the job can change no more."""
        return self not in {JobStatus.PENDING, JobStatus.RUNNING}

    @property
    def ok(self) -> bool:
        """True when the job's result stands: it succeeded, or a success was reused."""
        return self in {JobStatus.SUCCESS, JobStatus.CACHED}


class LineState(StrEnum):
    """The state the line of a project is in; a stopped line holds promotions back."""

    RUNNING = "running"
    STOPPED = "stopped"
