"""``andon env up|down|recreate|list|status|diff|drift``: environments on demand, created
from andon.yaml and an artifact, looked at, compared, checked for drift and destroyed.

Long work (``up --wait``, ``down``, ``recreate --wait``) prints each step with its
duration on stderr as it ends; stdout keeps what scripts read (the URL, or ``--json``).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from andon.cli._common import Json, ProjectOption, Url, ago, client, resolve_project
from andon.cli._output import emit_json, note, say
from andon.errors import AndonError, ConflictError

app = typer.Typer(help="Create, inspect and destroy environments.", no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="The environment's name.", show_default=False)]
Wait = Annotated[bool, typer.Option("--wait", help="Follow it to the end; exit 1 unless ready.")]
POLL_S = 0.3
STEP_MARKS = {"done": "✓", "failed": "✗", "running": "▶"}


@app.command("up")
def up(
    name: Name,
    project: ProjectOption = None,
    artifact: Annotated[
        str | None, typer.Option("--artifact", help="The artifact to run (digest or prefix).")
    ] = None,
    commit: Annotated[
        str | None, typer.Option("--commit", help="Run the artifact of this commit.")
    ] = None,
    copy_from: Annotated[
        str | None,
        typer.Option("--from", help="Make an ephemeral copy of this declared environment."),
    ] = None,
    ttl: Annotated[
        str | None, typer.Option("--ttl", help="Remove it after this long (e.g. 2h, 30m).")
    ] = None,
    wait: Wait = False,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Create an environment from andon.yaml and an artifact; print its URL.

    The environment is one andon.yaml declares, or with --from an ephemeral copy of one
    (removed after --ttl, 2h by default). The artifact is the one named, that of
    --commit, or that of the last green pipeline on trunk.
    """
    body = {"name": name, "artifact": artifact, "commit": commit, "from": copy_from, "ttl": ttl}
    with client(url) as api:
        slug = resolve_project(api, project)
        created = api.post(f"/projects/{slug}/environments", body)
        if not wait:
            _report(created, as_json, f"Creating environment {name} of {slug}")
            return
        if not as_json:
            note(
                f"Creating environment {name} of {slug}: artifact {_short(created['artifact'])}"
                f" at {str(created['version'])[:12]}"
            )
        final, operation = _follow(api, slug, created, quiet=as_json)
    _conclude(final, operation, created["url"], as_json)


@app.command("down")
def down(
    name: Name,
    project: ProjectOption = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return at once; it goes on in the background.")
    ] = False,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Destroy an environment: instances, database and files.

    A failed environment is cleaned up the same way.
    """
    with client(url) as api:
        slug = resolve_project(api, project)
        started = api.delete(f"/projects/{slug}/environments/{name}")
        if no_wait:
            _report(started, as_json, f"Destroying environment {name} of {slug}")
            return
        final, operation = _follow(api, slug, started, quiet=as_json)
    if as_json:
        emit_json(final)
    if operation.get("result") != "destroyed":
        reason = operation.get("error") or final["message"]
        raise AndonError(f"environment {name} of {slug} is not destroyed: {reason}")
    if not as_json:
        say(f"Destroyed environment {name} of {slug}.")


@app.command("recreate")
def recreate(
    name: Name,
    project: ProjectOption = None,
    wait: Wait = False,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """Destroy an environment and build it again as declared.

    Same artifact, same andon.yaml, same URL: the way to undo drift and to apply new
    secrets.
    """
    with client(url) as api:
        slug = resolve_project(api, project)
        started = api.post(f"/projects/{slug}/environments/{name}/recreate", {})
        if not wait:
            _report(started, as_json, f"Recreating environment {name} of {slug}")
            return
        final, operation = _follow(api, slug, started, quiet=as_json)
    _conclude(final, operation, started["url"], as_json)


@app.command("list")
def list_(
    project: ProjectOption = None,
    include_destroyed: Annotated[
        bool, typer.Option("--all", help="Include destroyed environments.")
    ] = False,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """The environments of a project."""
    with client(url) as api:
        slug = resolve_project(api, project)
        query = "?all=true" if include_destroyed else ""
        environments = api.get(f"/projects/{slug}/environments{query}")
    if as_json:
        emit_json(environments)
        return
    if not environments:
        note(f"{slug} has no environments; 'andon env up NAME' creates one.")
        return
    say(f"{'NAME':<16} {'STATUS':<11} {'VERSION':<13} {'URL':<24} {'AGE':>7} {'TTL':>7}  KIND")
    for env in environments:
        kind = env["kind"] + (f" (from {env['copied_from']})" if env["copied_from"] else "")
        say(
            f"{env['name']:<16} {env['status']:<11} {str(env['version'] or '-')[:12]:<13} "
            f"{env['url'] or '-':<24} {ago(env['age_seconds']):>7} "
            f"{ago(env['ttl_seconds']):>7}  {kind}"
        )


@app.command("status")
def status(
    name: Name, project: ProjectOption = None, url: Url = None, as_json: Json = False
) -> None:
    """One environment: version, instances, health, URL, age and TTL."""
    with client(url) as api:
        slug = resolve_project(api, project)
        env = api.get(f"/projects/{slug}/environments/{name}")
    if as_json:
        emit_json(env)
        return
    for line in describe(env):
        say(line)


def describe(env: dict[str, Any]) -> list[str]:
    """The lines ``env status`` prints."""
    copied = f", a copy of {env['copied_from']}" if env["copied_from"] else ""
    lines = [
        f"Environment {env['name']} of {env['project']}: {env['status']} ({env['kind']}{copied})"
    ]
    lines.append(f"  url:      {env['url'] or '-'}")
    if env["version"]:
        lines.append(f"  version:  {env['version'][:12]} (artifact {_short(env['artifact'])})")
    instances = env.get("instances")
    if instances is not None:
        serving = sum(1 for i in instances if i["phase"] == "ready")
        lines.append(f"  health:   {env['health']} ({serving}/{len(instances)} instances ready)")
    elif env.get("instances_error"):
        lines.append(f"  health:   unknown ({env['instances_error']})")
    expires = f"{ago(env['ttl_seconds'])} left" if env["ttl_seconds"] is not None else "none"
    lines.append(f"  age:      {ago(env['age_seconds'])}   ttl: {expires}")
    lines.append(f"  drift:    {_drift_line(env)}")
    if env["message"]:
        lines.append(f"  message:  {env['message']}")
    if instances:
        lines.append(
            f"  {'INSTANCE':<12} {'PROCESS':<10} {'VERSION':<13} {'PHASE':<11} "
            f"{'PORT':>6} {'PID':>8} {'RESTARTS':>8}"
        )
        for i in instances:
            lines.append(
                f"  {i['name']:<12} {i['process']:<10} {i['version'][:12]:<13} {i['phase']:<11} "
                f"{i['port']:>6} {i['pid'] or '-':>8} {i['restarts']:>8}"
            )
    return lines


@app.command("diff")
def diff(
    left: Annotated[str, typer.Argument(help="One environment.", show_default=False)],
    right: Annotated[str, typer.Argument(help="The other.", show_default=False)],
    project: ProjectOption = None,
    url: Url = None,
    as_json: Json = False,
) -> None:
    """How two environments differ.

    Version, config values, secrets (never their values), instance counts and schema
    version.
    """
    with client(url) as api:
        slug = resolve_project(api, project)
        found = api.get(f"/projects/{slug}/environments/{left}/diff/{right}")
    if as_json:
        emit_json(found)
        return
    differences = found["differences"]
    if not differences:
        say(f"{left} and {right} do not differ.")
        return
    say(f"{left} and {right} differ in {len(differences)} way(s):")
    for item in differences:
        say(f"  {item['kind']:<10} {item['message']}")


@app.command("drift")
def drift(
    name: Name, project: ProjectOption = None, url: Url = None, as_json: Json = False
) -> None:
    """Check an environment for drift now; exit 1 when there is any.

    Drift is every way what runs differs from what was declared: release files, rendered
    config, commands and variables, instance counts, applied migrations.
    """
    with client(url) as api:
        slug = resolve_project(api, project)
        found = api.post(f"/projects/{slug}/environments/{name}/drift", {})
    items = found["drift"]
    if as_json:
        emit_json(found)
    elif not items:
        say(f"No drift: environment {name} of {slug} is as declared.")
    else:
        say(f"Environment {name} of {slug} has drifted ({len(items)}):")
        for item in items:
            say(f"  {item['kind']:<15} {item['message']}")
        note(f"'andon env recreate {name}' rebuilds it as declared.")
    if items:
        raise typer.Exit(1)


def _follow(
    api: Any, project: str, started: dict[str, Any], *, quiet: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Print each step of the operation ``started`` began as it ends, until it is over;
    the environment and the operation then. (Another may follow at once, such as the TTL
    reaper's on a short-lived copy: the one started here is what is reported.)"""
    wanted = (started.get("operation") or {}).get("id")
    shown = 0
    while True:
        env = api.get(f"/projects/{project}/environments/{started['name']}")
        operations = env.get("operations") or []
        operation = next((op for op in operations if op["id"] == wanted), env.get("operation"))
        operation = operation or {}
        finished = [step for step in operation.get("steps", []) if step["status"] != "running"]
        for step in finished[shown:]:
            if not quiet:
                note(_step_line(step))
        shown = len(finished)
        if not operation.get("running"):
            return dict(env), dict(operation)
        time.sleep(POLL_S)


def _step_line(step: dict[str, Any]) -> str:
    mark = STEP_MARKS.get(step["status"], "?")
    seconds = ago(step["seconds"])
    detail = f"  {step['detail']}" if step["detail"] else ""
    return f"  {mark} {step['title']:<32} {seconds:>7}{detail}"


def _conclude(
    env: dict[str, Any], operation: dict[str, Any], url: str | None, as_json: bool
) -> None:
    """Print the URL of the environment the operation made ready, or fail with why not."""
    if as_json:
        emit_json(env)
    if operation.get("result") != "ready":
        name, project = env["name"], env["project"]
        reason = operation.get("error") or env["message"]
        raise ConflictError(
            f"environment {name} of {project} is {operation.get('result') or env['status']}: "
            f"{reason}; 'andon env down {name}' cleans up."
        )
    if not as_json:
        say(url or env["url"])


def _report(env: dict[str, Any], as_json: bool, what: str) -> None:
    if as_json:
        emit_json(env)
    else:
        say(f"{what}; 'andon env status {env['name']}' follows it.")


def _drift_line(env: dict[str, Any]) -> str:
    if env["drift_checked_at"] is None:
        return "not checked yet"
    items = env["drift"] or []
    if not items:
        return f"none (checked {env['drift_checked_at']})"
    return f"{len(items)} difference(s) (checked {env['drift_checked_at']}; 'andon env drift')"


def _short(digest: str | None) -> str:
    return "-" if not digest else digest[:19]
