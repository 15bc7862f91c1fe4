"""``andon deploy ENV`` and ``andon rollout status|promote|pause|resume|abort|retry|
approve|undo|history ENV``: deployments decoupled from release, followed live.

``deploy --wait`` and ``rollout status --watch`` show the rollout as it goes (phase,
step, traffic, instances, the analysis and the decision log) and end when it does;
``deploy --wait`` exits 1 unless it succeeded. stdout keeps what scripts read.
"""

from __future__ import annotations

import getpass
import time
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from andon.cli._client import ApiClient
from andon.cli._common import Json, ProjectOption, Url, client, resolve_project
from andon.cli._output import emit_json, say
from andon.errors import AndonError

app = typer.Typer(help="Follow and steer rollouts.", no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="The environment's name.", show_default=False)]
POLL_S = 0.5
FINISHED = {"succeeded", "rolled_back", "aborted", "failed"}
SHOWN_DECISIONS = 12


def deploy(
    environment: Name,
    project: ProjectOption = None,
    artifact: Annotated[
        str | None, typer.Option("--artifact", help="The artifact to deploy (digest or prefix).")
    ] = None,
    commit: Annotated[
        str | None, typer.Option("--commit", help="Deploy the artifact of this commit.")
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy", help="recreate, rolling, blue-green or canary (else andon.yaml's)."
        ),
    ] = None,
    queue: Annotated[
        bool, typer.Option("--queue", help="Wait behind a rollout under way, not refuse.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow it to the end; exit 1 unless it succeeded.")
    ] = False,
    break_glass: Annotated[
        str,
        typer.Option(
            "--break-glass",
            metavar="REASON",
            help="Deploy through a freeze window, saying why (recorded and announced).",
        ),
    ] = "",
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Deploy a release to an environment: the artifact given, that of --commit, or the
    last green one; by andon.yaml's release strategy unless --strategy says otherwise."""
    body = {
        "artifact": artifact,
        "commit": commit,
        "strategy": strategy,
        "queue": queue,
        "by": getpass.getuser(),
        "break_glass": break_glass,
    }
    with client(url) as api:
        slug = resolve_project(api, project)
        rollout = api.post(f"/projects/{slug}/environments/{environment}/rollouts", body)
        if not wait:
            if as_json:
                emit_json(rollout)
            else:
                say(_headline(rollout))
                for decision in rollout["decisions"]:
                    if decision["kind"] == "warning":
                        say(f"  ! {decision['sentence']}")
            return
        final = _watch(api, f"/rollouts/{rollout['id']}", quiet=as_json)
    if as_json:
        emit_json(final)
    if final["status"] != "succeeded":
        raise AndonError(f"rollout #{final['id']} ended {final['status']}: {final['message']}")


@app.command("status")
def status(
    environment: Name,
    project: ProjectOption = None,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Follow it live until it ends.")
    ] = False,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """The rollout under way (else the latest): phase, step, traffic, instances, the
    analysis and why each decision was taken."""
    with client(url) as api:
        slug = resolve_project(api, project)
        path = f"/projects/{slug}/environments/{environment}/rollout"
        rollout = api.get(path)
        if watch and rollout["status"] not in FINISHED:
            rollout = _watch(api, f"/rollouts/{rollout['id']}", quiet=as_json)
    if as_json:
        emit_json(rollout)
    elif not watch:
        Console().print(_render(rollout))


@app.command("history")
def history(
    environment: Name,
    project: ProjectOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200)] = 20,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """The environment's rollouts, newest first."""
    with client(url) as api:
        slug = resolve_project(api, project)
        rollouts = api.get(f"/projects/{slug}/environments/{environment}/rollouts?limit={limit}")
    if as_json:
        emit_json(rollouts)
        return
    if not rollouts:
        say(f"{environment} has had no rollout.")
        return
    # One line of what was rolled out, one of how it ended: whole versions and whole
    # sentences at any terminal width, where table cells would wrap or be cut.
    for rollout in rollouts:
        old = (rollout["from_version"] or "nothing")[:12]
        by = f" by {rollout['created_by']}" if rollout["created_by"] else ""
        created = rollout["created_at"][:16].replace("T", " ")
        decisions = rollout.get("decisions") or []
        say(
            f"#{rollout['id']:<4} {rollout['status']:<11} {rollout['strategy']:<10} "
            f"{old} → {rollout['to_version'][:12]}  {created}{by}"
        )
        say(f"      {decisions[-1]['sentence'] if decisions else rollout['message']}")


def _command(verb: str, help_text: str) -> None:
    def run(
        environment: Name,
        project: ProjectOption = None,
        reason: Annotated[str, typer.Option("--reason", help="Why, for the log.")] = "",
        url: Url = None,
        as_json: Json = False,
    ) -> None:
        _send(verb, environment, project, reason, url, as_json, full=False)

    run.__doc__ = help_text
    app.command(verb)(run)


@app.command("promote")
def promote(
    environment: Name,
    project: ProjectOption = None,
    full: Annotated[bool, typer.Option("--full", help="Go to 100% now.")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the log.")] = "",
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Skip the current pause, analysis or bake (with --full: all traffic now)."""
    _send("promote", environment, project, reason, url, as_json, full=full)


for _verb, _help in (
    ("pause", "Hold the rollout where it is (a failing analysis still rolls back)."),
    ("resume", "Go on after a pause by hand, an inconclusive analysis or a freeze."),
    ("abort", "Roll back now: all traffic to the old version, the new one stopped."),
    ("retry", "Start a rolled-back, aborted or failed rollout again from its first step."),
    ("approve", "Let a rollout that waits for approval start."),
):
    _command(_verb, _help)


@app.command("undo")
def undo(
    environment: Name,
    project: ProjectOption = None,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Back to the last known good release, at once while its instances still run."""
    with client(url) as api:
        slug = resolve_project(api, project)
        rollout = api.post(
            f"/projects/{slug}/environments/{environment}/rollout/undo",
            {"by": getpass.getuser()},
        )
    if as_json:
        emit_json(rollout)
    else:
        say(_headline(rollout))


def _send(
    verb: str,
    environment: str,
    project: str | None,
    reason: str,
    url: str | None,
    as_json: bool,
    *,
    full: bool,
) -> None:
    with client(url) as api:
        slug = resolve_project(api, project)
        rollout = api.post(
            f"/projects/{slug}/environments/{environment}/rollout/{verb}",
            {"by": getpass.getuser(), "reason": reason, "full": full},
        )
    if as_json:
        emit_json(rollout)
    else:
        say(f"Asked rollout #{rollout['id']} to {verb}{' fully' if full else ''}.")


# -- showing ---------------------------------------------------------------------------------


def _watch(api: ApiClient, path: str, *, quiet: bool) -> dict[str, Any]:
    """Follow a rollout until it ends, drawn live on stderr; its final view."""
    console = Console(stderr=True)
    rollout: dict[str, Any] = api.get(path)
    if quiet:
        while not _settled(rollout):
            time.sleep(POLL_S)
            rollout = api.get(path)
        return rollout
    with Live(_render(rollout), console=console, refresh_per_second=4) as live:
        while not _settled(rollout):
            time.sleep(POLL_S)
            rollout = api.get(path)
            live.update(_render(rollout))
    return rollout


def _settled(rollout: dict[str, Any]) -> bool:
    """Ended, and its last actions applied (the environment records its new release)."""
    return rollout["status"] in FINISHED and bool(rollout.get("settled", True))


def _instances(instances: dict[str, Any]) -> list[str]:
    """``canary 2d9f0c1a7b3e: 2 ready, 1 failed (exit 3)`` per role."""
    shown = []
    for role, seen in instances.items():
        text = f"{role} {str(seen['version'])[:12]}: {seen['ready']} ready"
        if seen.get("failed"):
            text += f", {seen['failed']} failed"
            if seen.get("message"):
                text += f" ({seen['message']})"
        shown.append(text)
    return shown


def _metrics_table(metrics: list[dict[str, Any]]) -> Table:
    """Canary against stable (or the recorded baseline), per metric, with the judges'
    latest word."""
    table = Table("metric", "canary", "stable / baseline", "judged", box=None)
    for row in metrics:
        versions = row["versions"]
        other = versions.get("stable") or versions.get("baseline")
        judged = "; ".join(
            f"{verdict['outcome']}: {verdict['sentence']}" for verdict in row["verdicts"].values()
        )
        if row.get("skipped"):
            judged = judged or "not judged: no baseline recorded"
        table.add_row(
            row["metric"] + (f" ({row['final']})" if row.get("final") else ""),
            versions["canary"]["text"] if "canary" in versions else "—",
            other["text"] if other else "—",
            judged or "waiting for traffic",
        )
    return table


def _headline(rollout: dict[str, Any]) -> str:
    old = (rollout["from_version"] or "nothing")[:12]
    return (
        f"Rollout #{rollout['id']} of {rollout['to_version'][:12]} over {old} to "
        f"{rollout['environment']} by {rollout['strategy']}: {rollout['status']} — "
        f"{rollout['message']}"
    )


def _render(rollout: dict[str, Any]) -> Group:
    """The rollout as a person reads it: headline, traffic, steps, verdict, decisions."""
    parts: list[Any] = [Text(_headline(rollout), style="bold")]
    phase = f"phase {rollout['phase']}"
    if rollout.get("pause"):
        phase += f" (paused: {rollout['pause'].get('reason')})"
    parts.append(Text(f"{phase}, attempt {rollout['attempt']}"))
    weights = rollout["traffic"].get("weights", {})
    if weights:
        split = ", ".join(f"{version[:12]} {share}%" for version, share in weights.items())
        parts.append(Text(f"traffic: {split}"))
    for route in rollout["traffic"].get("header_routes", []):
        parts.append(
            Text(f"  route: {route['header']}: {route['value']} → {route['version'][:12]}")
        )
    steps = rollout.get("steps") or []
    if steps:
        marks = []
        for index, step in enumerate(steps):
            mark = (
                "✓"
                if index < rollout["step_index"]
                else ("▶" if index == rollout["step_index"] else "·")
            )
            detail = step.get("percent") or step.get("duration") or step.get("header") or ""
            marks.append(f"{mark} {step['kind']} {detail}".rstrip())
        parts.append(Text("steps: " + "  ".join(marks)))
    instances = rollout.get("instances") or {}
    if instances:
        parts.append(Text("instances: " + "; ".join(_instances(instances))))
    metrics = rollout.get("metrics") or []
    if metrics:
        parts.append(_metrics_table(metrics))
    verdict = rollout.get("verdict")
    if verdict:
        parts.append(Text(f"analysis: {verdict['outcome']} — {verdict['sentence']}"))
    table = Table("at", "decision", box=None, show_header=False)
    for decision in rollout["decisions"][-SHOWN_DECISIONS:]:
        table.add_row(decision["at"][11:19], decision["sentence"])
    parts.append(table)
    return Group(*parts)
