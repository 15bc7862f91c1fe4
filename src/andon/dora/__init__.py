"""Delivery performance from stored events: DORA's five metrics and the flow of work.

Pure engines: they take the store's records and a time, and return data; the server's
``/api/v1/.../dora`` and ``/flow`` routes, ``/metrics``, the CLI and the dashboard show it.
"""

from __future__ import annotations

from andon.dora.deployments import CommitLead, Deployment, Outcome, assess_deployments
from andon.dora.flow import Flow, LeadTimeSplit, LineStop, LineStops, StageFlow, assess_flow
from andon.dora.levels import (
    Level,
    Trend,
    assess_trend,
    change_fail_rate_level,
    frequency_level,
    lead_time_level,
    recovery_time_level,
)
from andon.dora.metrics import DoraReport, Measures, Window, assess_dora, quantile
from andon.dora.value_stream import (
    ARTIFACT,
    PIPELINE,
    RELEASE,
    FlowRecords,
    FlowRow,
    Stage,
    StageState,
    assess_value_stream,
)

__all__ = [
    "ARTIFACT",
    "PIPELINE",
    "RELEASE",
    "CommitLead",
    "Deployment",
    "DoraReport",
    "Flow",
    "FlowRecords",
    "FlowRow",
    "LeadTimeSplit",
    "Level",
    "LineStop",
    "LineStops",
    "Measures",
    "Outcome",
    "Stage",
    "StageFlow",
    "StageState",
    "Trend",
    "Window",
    "assess_deployments",
    "assess_dora",
    "assess_flow",
    "assess_trend",
    "assess_value_stream",
    "change_fail_rate_level",
    "frequency_level",
    "lead_time_level",
    "quantile",
    "recovery_time_level",
]
