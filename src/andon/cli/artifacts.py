"""``andon artifact list|show|verify``: the immutable artifacts built once per commit."""

from __future__ import annotations

from typing import Annotated

import typer

from andon.cli._common import Json, ProjectOption, Url, client
from andon.cli._output import emit_json, note, say

app = typer.Typer(help="List, show and verify artifacts.", no_args_is_help=True)

Digest = Annotated[str, typer.Argument(help="The digest (sha256:…) or a unique prefix.")]


@app.command("list")
def list_(
    project: ProjectOption = None,
    limit: Annotated[int, typer.Option(help="How many.")] = 20,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Recent artifacts, newest first."""
    with client(url) as api:
        query = f"?limit={limit}" + (f"&project={project}" if project else "")
        artifacts = api.get(f"/artifacts{query}")
    if as_json:
        emit_json(artifacts)
        return
    if not artifacts:
        note("No artifacts yet; a green pipeline builds one.")
        return
    say(f"{'DIGEST':<23}  {'PROJECT':<14} {'COMMIT':<12} {'FILES':>6} {'SIZE':>10}  CREATED")
    for a in artifacts:
        say(
            f"{a['digest'][:23]}  {a['project']:<14} {a['commit'][:12]:<12} {a['files']:>6} "
            f"{a['size']:>10,}  {a['created_at']}"
        )


@app.command("show")
def show(digest: Digest, url: Url = None, as_json: Json = False) -> None:
    """One artifact and its manifest."""
    with client(url) as api:
        artifact = api.get(f"/artifacts/{digest}")
    if as_json:
        emit_json(artifact)
        return
    manifest = artifact.get("manifest", {})
    for key in ("digest", "project", "commit", "tree", "pipeline_id", "size", "created_at"):
        say(f"{key + ':':13} {artifact.get(key)}")
    lock = manifest.get("lock")
    say(f"{'lock:':13} {lock['path'] + ' ' + lock['sha256'][:16] if lock else '-'}")
    say(f"{'files:':13} {artifact['files']}")
    for path in sorted(manifest.get("files", {}))[:50]:
        say(f"  {path}")
    if artifact["files"] > 50:
        say(f"  … and {artifact['files'] - 50} more (--json lists all)")


@app.command("verify")
def verify(digest: Digest, url: Url = None, as_json: Json = False) -> None:
    """Check an artifact against its digest and manifest; exit 1 if it was modified."""
    with client(url) as api:
        result = api.post(f"/artifacts/{digest}/verify", {})
    if as_json:
        emit_json(result)
        return
    say(
        f"{result['digest']} is intact: the archive matches its digest and all "
        f"{result['files']} files match the manifest."
    )
