"""The pipeline: from a commit to a tested, packaged, immutable artifact, and the line
(the andon cord) that a red trunk stops.

:func:`plan_pipeline` turns andon.yaml's jobs into a graph (shards expanded, a package job
last) and :func:`decide_next` / :func:`assess_pipeline` decide purely what happens next;
the line's deciders (:func:`decide_after_pipeline`, :func:`assess_promotion`, ...) are pure
too. The rest acts: :class:`PipelineRunner` runs a pipeline, with :class:`WorkspaceFactory`
for clean workspaces of the commit, :func:`compute_cache_key` and
:class:`CacheDirectories` to reuse earlier work, :func:`run_job_command` to run a job into a
:class:`LogSink`, :func:`parse_reports` for JUnit reports, and ``andon.artifacts`` for the
artifact.
"""

from andon.pipeline.caching import CacheDirectories, compute_cache_key
from andon.pipeline.executing import PipelineRunner
from andon.pipeline.junit import TestReport, parse_reports
from andon.pipeline.line import (
    FinishedPipeline,
    LineCause,
    LineChange,
    LineView,
    PromotionRefusal,
    assess_promotion,
    decide_after_pipeline,
    decide_manual_resume,
    decide_manual_stop,
)
from andon.pipeline.line_store import line_view, record_change, stopped_since
from andon.pipeline.logs import LogSink, follow_log, mask
from andon.pipeline.planning import (
    Decision,
    PlannedJob,
    assess_pipeline,
    decide_next,
    plan_pipeline,
)
from andon.pipeline.running import CommandOutcome, reap_orphans, run_job_command
from andon.pipeline.workspaces import WorkspaceFactory, safe_directory_name

__all__ = [
    "CacheDirectories",
    "CommandOutcome",
    "Decision",
    "FinishedPipeline",
    "LineCause",
    "LineChange",
    "LineView",
    "LogSink",
    "PipelineRunner",
    "PlannedJob",
    "PromotionRefusal",
    "TestReport",
    "WorkspaceFactory",
    "assess_pipeline",
    "assess_promotion",
    "compute_cache_key",
    "decide_after_pipeline",
    "decide_manual_resume",
    "decide_manual_stop",
    "decide_next",
    "follow_log",
    "line_view",
    "mask",
    "parse_reports",
    "plan_pipeline",
    "reap_orphans",
    "record_change",
    "run_job_command",
    "safe_directory_name",
    "stopped_since",
]
