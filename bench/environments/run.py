"""Environments benchmark: ``andon env up`` of the example shop, from nothing to healthy,
timed as its user sees it, beside the same work done directly (the in-run anchor).

    /work/venv/bin/python bench/environments/run.py [--rounds N] [--warmup W] [--json]

A private ANDON_HOME in a temporary directory, the shop in a fresh git repository, the
real server and agent (``andon start`` on free ports), ``andon project add`` and its first
pipeline (not timed: it builds the artifact). Then each round times ``andon env up test
--wait`` from launch to exit, checks the URL serves /products, reads the steps the server
recorded and runs ``andon env down test`` (not timed); and runs the anchor, in alternating
order. bench/README.md says what each figure means and records results.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

from direct import DirectRun, read_spec, run_directly
from stack import SHOP_DIR, BenchmarkError, EnvUp, Installation, andon_command, shop_repository

# The machine's description and the summaries are the pipeline benchmark's.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))
from summaries import Row, describe_machine, load_average, summarize

GOAL_ENV_UP = 5.0
"""Seconds from ``andon env up`` to a healthy environment (the issue's goal)."""
ENVIRONMENT = "test"
STEP_ORDER = ("unpack", "database", "config", "migrate", "seed", "start", "health", "smoke")
DIRECT_STEPS = {
    "unpack": "unpack the archive (tarfile)",
    "config": "render the config (Jinja2)",
    "migrate": "run the migrations",
    "seed": "insert the seed data",
    "healthy": "start the shop, poll /healthz to 200",
    "smoke": "run the smoke tests (no router)",
}


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def measure(root: Path, *, rounds: int, warmup: int) -> dict[str, Any]:
    """Start Andon, build the artifact, then ``warmup`` + ``rounds`` rounds of env up/down
    and of the anchor; every process is gone when this returns or raises."""
    repo = shop_repository(root / "monorepo")
    spec = read_spec(repo / SHOP_DIR / "andon.yaml")
    andon = Installation(home=root / "andon-home", repo=repo)
    ups: list[EnvUp] = []
    directs: list[DirectRun] = []
    first: list[EnvUp] = []
    listing: list[float] = []
    through_api: list[float] = []
    try:
        progress(f"andon start (server on :{andon.port}, agent on :{andon.agent_port})")
        andon.start()
        progress("andon project add; waiting for the first pipeline to be green")
        pipeline = andon.await_green_pipeline()
        digest, archive = andon.artifact()
        progress(f"pipeline #{pipeline['id']} green; artifact {digest[:19]} ({archive})")
        for number in range(warmup + rounds):
            counted = number >= warmup
            label = f"round {number - warmup + 1}/{rounds}" if counted else "warm-up"
            direct_first = number % 2 == 1
            if direct_first and counted:
                directs.append(
                    run_directly(archive, spec, root / f"direct-{number}", env=ENVIRONMENT)
                )
            up = andon.env_up(ENVIRONMENT)
            if counted:
                listing.append(andon.time_cli("env", "list"))
            andon.env_down(ENVIRONMENT)
            if counted:
                through_api.append(andon.api_up(ENVIRONMENT))
                andon.env_down(ENVIRONMENT)
            if not direct_first and counted:
                directs.append(
                    run_directly(archive, spec, root / f"direct-{number}", env=ENVIRONMENT)
                )
            (ups if counted else first).append(up)
            steps = ", ".join(f"{k} {v:.2f}" for k, v in up.steps.items())
            anchor = (
                f"; through the API {through_api[-1]:.2f} s; direct {directs[-1].wall:.2f} s"
                if counted
                else ""
            )
            progress(f"{label}: env up {up.wall:.2f} s ({steps}){anchor}")
    finally:
        andon.close()
    return {
        "ups": ups,
        "directs": directs,
        "first": first,
        "listing": listing,
        "through_api": through_api,
        "artifact": digest,
    }


def rows(measured: dict[str, Any]) -> list[Row]:
    ups: list[EnvUp] = measured["ups"]
    directs: list[DirectRun] = measured["directs"]
    first: list[EnvUp] = measured["first"]
    titles = {key: title for up in ups for key, title in up.titles.items()}
    found = [step for step in STEP_ORDER if step in titles]
    found += sorted(set(titles) - set(STEP_ORDER))
    table = [
        Row(
            "env_up_wall",
            "andon env up test --wait: launch to exit, URL printed",
            "s",
            summarize([up.wall for up in ups]),
            goal=GOAL_ENV_UP,
        ),
        Row(
            "env_up_api",
            "  the same through the API: POST, GET every 50 ms to ready",
            "s",
            summarize(measured["through_api"]),
        ),
        Row(
            "env_up_steps",
            "  sum of the steps the server reports",
            "s",
            summarize([sum(up.steps.values()) for up in ups]),
        ),
    ]
    table += [
        Row(
            f"step_{step}",
            f"    {step}: {titles[step]}",
            "s",
            summarize([up.steps.get(step, 0.0) for up in ups]),
        )
        for step in found
    ]
    table += [
        Row(
            "env_up_outside_steps",
            "  outside the steps: CLI start, API, polling",
            "s",
            summarize([up.wall - sum(up.steps.values()) for up in ups]),
        ),
        Row(
            "cli_env_list",
            "    for scale: andon env list, launch to exit",
            "s",
            summarize(measured["listing"]),
            note="CLI start-up + one API call",
        ),
        Row(
            "direct_wall",
            "the same done directly, unpack to smoke passed",
            "s",
            summarize([run.wall for run in directs]),
            note="in-run anchor",
        ),
    ]
    table += [
        Row(
            f"direct_{step}",
            f"    {step}: {title}",
            "s",
            summarize([run.steps.get(step, 0.0) for run in directs]),
        )
        for step, title in DIRECT_STEPS.items()
    ]
    table.append(
        Row(
            "andon_over_direct",
            "what Andon adds: env up wall - direct wall",
            "s",
            summarize([up.wall - run.wall for up, run in zip(ups, directs, strict=True)]),
        )
    )
    if first:
        table.append(
            Row(
                "first_env_up",
                "first env up after the server started (warm-up)",
                "s",
                value=first[0].wall,
                note="not in the medians",
            )
        )
    return table


def render(table: list[Row], machine: dict[str, Any], settings: dict[str, Any]) -> str:
    loads = "/".join(f"{value:.2f}" for value in machine["load_before"]) or "unknown"
    after = "/".join(f"{value:.2f}" for value in machine["load_after"]) or "unknown"
    lines = [
        f"Andon environments benchmark, {machine['date']}, andon {machine['code']}",
        f"machine: {machine['cpus']} x {machine['cpu_model']} ({machine['arch']}), "
        f"{machine['system']}, Python {machine['python']}",
        f"run: {settings['rounds']} rounds after {settings['warmup']} warm-up; "
        f"load average {loads} before, {after} after",
        "",
    ]
    width = max(len(row.label) for row in table)
    lines.append(f"{'figure':<{width}}  {'median':>8}  {'p90':>8}  {'goal':>8}  verdict / note")
    for row in table:
        if row.summary is not None:
            median, p90 = f"{row.summary.median:.2f} s", f"{row.summary.p90:.2f} s"
        else:
            median, p90 = f"{row.value or 0.0:.2f} s", "-"
        goal = f"<= {row.goal:g} s" if row.goal is not None else ""
        notes = ", ".join(part for part in (row.verdict(), row.note) if part)
        lines.append(f"{row.label:<{width}}  {median:>8}  {p90:>8}  {goal:>8}  {notes}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds (default 5)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="env ups first, not counted (default 1)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0:
        parser.error("--rounds must be at least 1 and --warmup at least 0")
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupted)
    machine = describe_machine()
    settings = {
        "rounds": args.rounds,
        "warmup": args.warmup,
        "environment": ENVIRONMENT,
        "command": [*andon_command(), "env", "up", ENVIRONMENT, "--wait"],
        "goal_seconds": GOAL_ENV_UP,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="andon-env-bench-") as scratch:
            measured = measure(Path(scratch), rounds=args.rounds, warmup=args.warmup)
    except BenchmarkError as exc:
        print(f"environments benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "environments benchmark interrupted; everything it started is stopped", file=sys.stderr
        )
        return 130
    machine["load_after"] = load_average()
    table = rows(measured)
    if args.json:
        report = {
            "machine": machine,
            "settings": settings,
            "artifact": measured["artifact"],
            "figures": {row.key: row.to_dict() for row in table},
            "env_up_rounds": [
                {key: value for key, value in up.__dict__.items() if key != "stderr"}
                for up in measured["ups"]
            ],
            "direct_rounds": [run.__dict__ for run in measured["directs"]],
            "cli_stderr_last_round": measured["ups"][-1].stderr,
        }
        print(json.dumps(report, indent=2))
    else:
        print(render(table, machine, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
