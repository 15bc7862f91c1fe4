"""``/api/v1/artifacts``: the immutable artifacts built from commits, and their verification."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from andon.errors import ArtifactError, ConflictError
from andon.server.api._shared import JSONRoute
from andon.store import ArtifactRecord, Store

router = APIRouter(tags=["artifacts"], route_class=JSONRoute)


def _store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def artifact_dict(record: ArtifactRecord, *, manifest: bool = False) -> dict[str, Any]:
    """The API's view of an artifact; the manifest only when asked for."""
    data = record.to_dict()
    data["files"] = len(record.manifest.get("files", {}))
    data.pop("path", None)
    if not manifest:
        data.pop("manifest", None)
    return data


@router.get("/artifacts")
def list_artifacts(
    request: Request, project: str | None = None, limit: int = Query(default=20, ge=1, le=500)
) -> list[dict[str, Any]]:
    """Recent artifacts, newest first."""
    return [artifact_dict(a) for a in _store(request).artifacts.list(project=project, limit=limit)]


@router.get("/artifacts/{digest}")
def show_artifact(digest: str, request: Request) -> dict[str, Any]:
    """One artifact with its manifest; a unique prefix of the digest is enough."""
    return artifact_dict(_store(request).artifacts.get(digest), manifest=True)


@router.post("/artifacts/{digest}/verify")
def verify_artifact(digest: str, request: Request) -> dict[str, Any]:
    """Check the stored archive against its digest and manifest; a tampered artifact is a
    409 whose message names the first file that does not match."""
    record = _store(request).artifacts.get(digest)
    try:
        manifest = request.app.state.runner.artifacts.verify(record.digest)
    except ArtifactError as exc:
        # The artifact is there but not as it was built: its state, not the server, fails.
        raise ConflictError(exc.message) from exc
    return {"digest": record.digest, "verified": True, "files": len(manifest.files)}
