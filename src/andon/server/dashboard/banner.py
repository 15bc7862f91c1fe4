"""The line's banner, on every page: green while trunk is green, red when a project's
line is stopped — by a red trunk or by a person pulling the cord — with its cause, its
owner (who pulled it, or the service's owner of andon.yaml) and for how long.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from andon.pipeline import line_view, stopped_since
from andon.server.dashboard import svg
from andon.store import ProjectRecord, Store

if TYPE_CHECKING:
    from andon.server.dashboard._web import Viewer


def line_context(store: Store, viewer: Viewer) -> list[dict[str, Any]]:
    """Each project's line as the banner shows it: stopped ones first, with cause, owner
    and how long."""
    now = datetime.now(UTC)
    lines = []
    for project in viewer.projects(store):
        view = line_view(store, project.name)
        if not view.stopped:
            lines.append({"project": project.name, "stopped": False})
            continue
        first = stopped_since(store, project.name)
        last = store.line.current(project.name)
        manual = view.cause is not None and view.cause.value == "manual"
        owner = (last.actor if last is not None else "") if manual else _service_owner(project)
        lines.append(
            {
                "project": project.name,
                "stopped": True,
                "cause": "stopped by hand" if manual else "trunk is red",
                "reason": view.reason,
                "owner": owner or "whoever pushed the commit",
                "commit": view.commit,
                "pipeline_id": view.pipeline_id,
                "since": first.at if first is not None else None,
                "for": _coarse((now - first.at).total_seconds()) if first is not None else "",
            }
        )
    lines.sort(key=lambda line: not line["stopped"])
    return lines


def _service_owner(project: ProjectRecord) -> str:
    service = project.spec.get("service") or {}
    return str(service.get("owner") or "")


def _coarse(seconds: float) -> str:
    """Minutes at most: a live banner must not change (and be read out) every second."""
    if seconds < 60:
        return "less than a minute"
    return svg.duration(seconds - seconds % 60).removesuffix(" 00s")
