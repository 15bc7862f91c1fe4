"""The node agent, one per host: it supervises service instances (start, health checks,
restarts with backoff, drain, stop), keeps its desired state in a file that survives its
own death, serves a token-protected admin API, and tells the router (the data plane) which
instances may get each environment's requests.

:class:`Agent` is the whole of it: a :class:`Supervisor` acts on each
:class:`InstanceRecord`, a :class:`StateFile` keeps them; :func:`create_admin_app` is its
API and :func:`serve_agent` its process (``andon agent``). The supervisor's reactions are pure
deciders (:func:`decide_after_exit`, :func:`assess_check`) under a
:class:`SupervisorPolicy`.

The data plane is a :class:`DataPlane`: ``serve_agent`` runs the built-in router
(``andon.agent.router.RouterDataPlane``, one listener per environment with a listen port);
:class:`NullDataPlane` routes nothing (tests of the agent alone).
"""

from __future__ import annotations

import typing

from andon._lazy import lazy_members

if typing.TYPE_CHECKING:
    from andon.agent._agent import Agent
    from andon.agent.admin import create_admin_app, render_metrics
    from andon.agent.data_plane import Backend, DataPlane, EnvironmentView, NullDataPlane
    from andon.agent.instances import InstancePhase, InstanceRecord, InstanceSpec, InstanceStatus
    from andon.agent.leftovers import kill_agent_leftovers
    from andon.agent.logs import InstanceLog
    from andon.agent.policy import (
        CheckVerdict,
        CrashHistory,
        ExitDecision,
        Probe,
        SupervisorPolicy,
        assess_check,
        decide_after_exit,
        describe_exit,
    )
    from andon.agent.processes import InstanceProcess
    from andon.agent.running import ensure_token, read_token, serve_agent, spawn_agent
    from andon.agent.state import AgentState, EnvironmentState, StateFile
    from andon.agent.supervising import Supervisor

# Names are imported when first used: a router worker process imports andon.agent.router
# (and so this package) and must not pay for FastAPI and uvicorn, which only the agent's
# own process needs.
_HOMES = {
    "Agent": "_agent",
    "create_admin_app": "admin",
    "render_metrics": "admin",
    "Backend": "data_plane",
    "DataPlane": "data_plane",
    "EnvironmentView": "data_plane",
    "NullDataPlane": "data_plane",
    "InstancePhase": "instances",
    "InstanceRecord": "instances",
    "InstanceSpec": "instances",
    "InstanceStatus": "instances",
    "kill_agent_leftovers": "leftovers",
    "InstanceLog": "logs",
    "CheckVerdict": "policy",
    "CrashHistory": "policy",
    "ExitDecision": "policy",
    "Probe": "policy",
    "SupervisorPolicy": "policy",
    "assess_check": "policy",
    "decide_after_exit": "policy",
    "describe_exit": "policy",
    "InstanceProcess": "processes",
    "ensure_token": "running",
    "read_token": "running",
    "serve_agent": "running",
    "spawn_agent": "running",
    "AgentState": "state",
    "EnvironmentState": "state",
    "StateFile": "state",
    "Supervisor": "supervising",
}


__getattr__, __dir__ = lazy_members(__name__, _HOMES)

__all__ = [
    "Agent",
    "AgentState",
    "Backend",
    "CheckVerdict",
    "CrashHistory",
    "DataPlane",
    "EnvironmentState",
    "EnvironmentView",
    "ExitDecision",
    "InstanceLog",
    "InstancePhase",
    "InstanceProcess",
    "InstanceRecord",
    "InstanceSpec",
    "InstanceStatus",
    "NullDataPlane",
    "Probe",
    "StateFile",
    "Supervisor",
    "SupervisorPolicy",
    "assess_check",
    "create_admin_app",
    "decide_after_exit",
    "describe_exit",
    "ensure_token",
    "kill_agent_leftovers",
    "read_token",
    "render_metrics",
    "serve_agent",
    "spawn_agent",
]
