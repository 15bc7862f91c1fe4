"""``andon pipeline run|list|show|logs|cancel``: every commit on trunk becomes a tested,
immutable artifact; these commands start, watch and inspect those pipelines."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any
from urllib.parse import quote

import typer

from andon.cli._common import STATUS_MARKS, Json, ProjectOption, Url, ago, client, resolve_project
from andon.cli._output import emit_json, note, say

app = typer.Typer(help="Run and inspect pipelines.", no_args_is_help=True)

FINISHED = {"success", "failed", "canceled", "interrupted"}


@app.command("run")
def run(
    project: ProjectOption = None,
    ref: Annotated[
        str | None, typer.Option("--ref", help="Branch or commit (default: trunk).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow it; exit 1 unless green.")] = False,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Run the pipeline of a branch or commit now."""
    with client(url) as api:
        name = resolve_project(api, project)
        pipeline = api.post(f"/projects/{name}/pipelines", {"ref": ref})
        if not wait:
            if as_json:
                emit_json(pipeline)
            else:
                say(f"Queued pipeline #{pipeline['id']} for {name} at {pipeline['commit'][:12]}.")
            return
        note(f"Pipeline #{pipeline['id']} for {name} at {pipeline['commit'][:12]}:")
        final = _watch(api, pipeline["id"], quiet=as_json)
    if as_json:
        emit_json(final)
    if final["status"] != "success":
        raise typer.Exit(1)


def _watch(api: Any, pipeline_id: int, *, quiet: bool) -> dict[str, Any]:
    """Print each job's state as it changes until the pipeline ends; return it."""
    seen: dict[str, str] = {}
    while True:
        pipeline = api.get(f"/pipelines/{pipeline_id}")
        for job in pipeline.get("jobs", []):
            if seen.get(job["name"]) == job["status"]:
                continue
            seen[job["name"]] = job["status"]
            if not quiet and job["status"] not in {"pending"}:
                note(_job_line(job))
        if pipeline["status"] in FINISHED:
            if not quiet:
                _summary(pipeline)
            return dict(pipeline)
        time.sleep(0.3)


def _job_line(job: dict[str, Any]) -> str:
    mark = STATUS_MARKS.get(job["status"], "?")
    duration = ago(job.get("duration")) if job["status"] not in {"running", "pending"} else ""
    reason = f"  {job['reason']}" if job.get("reason") and job["status"] != "success" else ""
    return f"  {mark} {job['name']:<24} {job['status']:<12} {duration:>7}{reason}"


def _summary(pipeline: dict[str, Any]) -> None:
    status = pipeline["status"]
    took = ago(pipeline.get("duration"))
    line = f"Pipeline #{pipeline['id']} {status} in {took}"
    if pipeline.get("artifact"):
        line += f"; artifact {pipeline['artifact']}"
    say(line + ".")
    if pipeline.get("error"):
        say(pipeline["error"])
    failed = [
        j["name"] for j in pipeline.get("jobs", []) if j["status"] in {"failed", "infra_failed"}
    ]
    if failed:
        say(f"See why: andon pipeline logs {pipeline['id']} {failed[0]}")


@app.command("list")
def list_(
    project: ProjectOption = None,
    limit: Annotated[int, typer.Option(help="How many.")] = 20,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Recent pipelines, newest first."""
    with client(url) as api:
        query = f"?limit={limit}" + (f"&project={project}" if project else "")
        pipelines = api.get(f"/pipelines{query}")
    if as_json:
        emit_json(pipelines)
        return
    if not pipelines:
        note("No pipelines yet.")
        return
    header = ("ID", "PROJECT", "COMMIT", "BRANCH", "STATUS", "TOOK")
    say("{:>5}  {:<14} {:<12} {:<14} {:<12} {:>7}  TRIGGER".format(*header))
    for p in pipelines:
        say(
            f"{p['id']:>5}  {p['project']:<14} {p['commit'][:12]:<12} {p['branch'][:14]:<14} "
            f"{p['status']:<12} {ago(p.get('duration')):>7}  {p['trigger']}"
        )


@app.command("show")
def show(
    pipeline_id: Annotated[int, typer.Argument(help="The pipeline's number.")],
    url: Url = None,
    as_json: Json = False,
) -> None:
    """One pipeline: its jobs drawn as the DAG they form, with states and durations."""
    with client(url) as api:
        pipeline = api.get(f"/pipelines/{pipeline_id}")
    if as_json:
        emit_json(pipeline)
        return
    branch = pipeline["branch"] or "detached"
    took = ago(pipeline.get("duration"))
    say(
        f"Pipeline #{pipeline['id']}  {pipeline['project']} @ {pipeline['commit'][:12]} "
        f"({branch})  {pipeline['status']}  {took}"
    )
    if pipeline.get("artifact"):
        say(f"artifact {pipeline['artifact']}")
    if pipeline.get("error"):
        say(pipeline["error"])
    for line in draw_dag(pipeline.get("jobs", [])):
        say(line)


def draw_dag(jobs: list[dict[str, Any]]) -> list[str]:
    """The jobs in columns by depth: each job after everything it needs."""
    depth: dict[str, int] = {}
    by_name = {job["name"]: job for job in jobs}

    def level(name: str) -> int:
        if name not in depth:
            needs = [n for n in by_name[name].get("needs", []) if n in by_name]
            depth[name] = 1 + max((level(n) for n in needs), default=-1)
        return depth[name]

    for job in jobs:
        level(job["name"])
    lines = []
    for stage in range(max(depth.values(), default=-1) + 1):
        members = [job for job in jobs if depth[job["name"]] == stage]
        arrow = "│" if stage else "┌"
        lines.append(f"{arrow} stage {stage + 1}")
        for job in members:
            needs = job.get("needs", [])
            after = f"  ← {', '.join(_compact(needs))}" if needs else ""
            lines.append(f"{_job_line(job)}{after}")
    return lines


def _compact(names: list[str]) -> list[str]:
    """``unit[1/3], unit[2/3], unit[3/3]`` → ``unit[x3]``."""
    shards: dict[str, int] = {}
    order: list[str] = []
    for name in names:
        base = name.split("[", 1)[0] if name.endswith("]") else name
        if base not in shards:
            order.append(base)
        shards[base] = shards.get(base, 0) + 1
    return [f"{base}[x{shards[base]}]" if shards[base] > 1 else base for base in order]


@app.command("logs")
def logs(
    pipeline_id: Annotated[int, typer.Argument(help="The pipeline's number.")],
    job: Annotated[str | None, typer.Argument(help="One job (default: all, in order).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream until it ends.")] = False,
    url: Url = None,
) -> None:
    """Print (or follow) the logs of a pipeline's jobs."""
    with client(url) as api:
        pipeline = api.get(f"/pipelines/{pipeline_id}")
        if pipeline.get("error") and job is None:
            say(pipeline["error"])
        names = [job] if job else [j["name"] for j in pipeline.get("jobs", [])]
        for name in names:
            if job is None:
                say(f"── {name} ──")
            if follow:
                _follow(api, pipeline_id, name)
            else:
                text = api.text(f"/pipelines/{pipeline_id}/logs/{quote(name)}")
                if text:
                    typer.echo(text, nl=not text.endswith("\n"))


def _follow(api: Any, pipeline_id: int, name: str) -> None:
    for event, data in api.events(f"/pipelines/{pipeline_id}/logs/{quote(name)}?follow=true"):
        if event == "end":
            end = json.loads(data)
            note(f"({name}: {end['status']}{': ' + end['reason'] if end.get('reason') else ''})")
            return
        typer.echo(data)


@app.command("cancel")
def cancel(
    pipeline_id: Annotated[int, typer.Argument(help="The pipeline's number.")],
    url: Url = None,
) -> None:
    """Cancel a queued or running pipeline; its running jobs are stopped."""
    with client(url) as api:
        api.post(f"/pipelines/{pipeline_id}/cancel", {})
    say(f"Canceling pipeline #{pipeline_id}.")
