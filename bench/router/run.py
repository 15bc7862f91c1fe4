"""Router benchmark: the Andon router against nginx and HAProxy, in one run, on loopback,
over the same two upstreams, with the same worker count.

    /work/venv/bin/python bench/router/run.py [--workers N] [--rounds R] [--duration S]
                                              [--connections C] [--json]

Each round runs ``wrk -t1 -c64 -d10s --latency`` once against each proxy (and against
one upstream directly, the anchor: what wrk and the upstream manage with no proxy), in a
rotated order so that no proxy always goes first; the table shows the medians over the
rounds and the verdicts against the issue's goals. bench/README.md says what each figure
means and records results. Needs nginx, haproxy and wrk (apt-get install -y nginx haproxy wrk).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from contenders import (
    BenchmarkError,
    Contender,
    need,
    start_andon,
    start_haproxy,
    start_nginx,
    start_upstreams,
)
from measuring import Load, describe_machine, run_wrk, write_script

GOAL_THROUGHPUT = 0.75
"""The router's req/s at least this share of nginx's, at the same worker count."""
GOAL_P99 = 1.5
"""The router's p99 at most this multiple of nginx's."""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(
    targets: dict[str, int], *, rounds: int, duration: int, connections: int, workdir: Path
) -> dict[str, list[Load]]:
    script = write_script(workdir)
    for name, port in targets.items():
        progress(f"warming up {name}")
        run_wrk(port, duration=2, connections=connections, script=script)
    loads: dict[str, list[Load]] = {name: [] for name in targets}
    names = list(targets)
    for number in range(rounds):
        order = names[number % len(names) :] + names[: number % len(names)]
        for name in order:
            load = run_wrk(targets[name], duration=duration, connections=connections, script=script)
            loads[name].append(load)
            progress(
                f"round {number + 1}/{rounds} {name}: {load.requests_per_second:,.0f} req/s, "
                f"p99 {load.p99_ms:.2f} ms, load {load.load}"
            )
    return loads


def summarize(loads: dict[str, list[Load]]) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "requests_per_second": statistics.median(load.requests_per_second for load in runs),
            "p99_ms": statistics.median(load.p99_ms for load in runs),
            "samples": [load.__dict__ for load in runs],
            "errors": sum(load.non_2xx + load.socket_errors for load in runs),
        }
        for name, runs in loads.items()
    }


def verdicts(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    nginx, andon = summary["nginx"], summary["andon"]
    throughput = andon["requests_per_second"] / nginx["requests_per_second"]
    latency = andon["p99_ms"] / nginx["p99_ms"]
    return {
        "throughput_ratio": round(throughput, 3),
        "throughput_goal": GOAL_THROUGHPUT,
        "throughput_met": throughput >= GOAL_THROUGHPUT,
        "p99_ratio": round(latency, 3),
        "p99_goal": GOAL_P99,
        "p99_met": latency <= GOAL_P99,
    }


def render(result: dict[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"{machine['date']} · {machine['cpus']} CPUs ({machine['cpu_model']}) · "
        f"{machine['system']} · Python {machine['python']} · load {machine['load_before']}",
        f"workers {result['workers']} · wrk -t1 -c{result['connections']} "
        f"-d{result['duration']}s · {result['rounds']} rounds, medians",
        "",
        f"{'':<10} {'req/s':>10} {'p99 ms':>8} {'errors':>7}",
    ]
    for name, figures in result["summary"].items():
        lines.append(
            f"{name:<10} {figures['requests_per_second']:>10,.0f} {figures['p99_ms']:>8.2f} "
            f"{figures['errors']:>7}"
        )
    verdict = result["verdicts"]
    lines += [
        "",
        f"andon / nginx throughput {verdict['throughput_ratio']:.2f} "
        f"(goal ≥ {verdict['throughput_goal']}): "
        + ("met" if verdict["throughput_met"] else "not met"),
        f"andon / nginx p99        {verdict['p99_ratio']:.2f} (goal ≤ {verdict['p99_goal']}): "
        + ("met" if verdict["p99_met"] else "not met"),
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    try:
        need("wrk")
        machine = describe_machine()
        started: list[Contender] = []
        with tempfile.TemporaryDirectory(prefix="andon-router-bench-") as directory:
            workdir = Path(directory)
            try:
                upstreams, first, second = start_upstreams(workdir)
                started.append(upstreams)
                pair = (first, second)
                for start in (start_nginx, start_haproxy, start_andon):
                    started.append(start(workdir, pair, args.workers))
                targets = {"upstream": first} | {c.name: c.port for c in started[1:]}
                loads = measure(
                    targets,
                    rounds=args.rounds,
                    duration=args.duration,
                    connections=args.connections,
                    workdir=workdir,
                )
            finally:
                for contender in reversed(started):
                    contender.stop()
    except (BenchmarkError, subprocess.CalledProcessError) as exc:
        print(f"router benchmark: {exc}", file=sys.stderr)
        return 1
    summary = summarize(loads)
    result = {
        "machine": machine,
        "workers": args.workers,
        "rounds": args.rounds,
        "duration": args.duration,
        "connections": args.connections,
        "summary": summary,
        "verdicts": verdicts(summary),
    }
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
