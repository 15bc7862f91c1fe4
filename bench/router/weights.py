"""Weight changes under load: no request may fail while the Andon router's split between
two versions changes 100 times under wrk.

    /work/venv/bin/python bench/router/weights.py [--workers 1 2] [--duration 10]
                                                  [--changes 100] [--rounds 1]
                                                  [--variants keepalive close]
                                                  [--router workers|inprocess] [--json]

The two upstreams of run.py (one nginx answering "v1" and "v2"), the Andon router as
``RouterWorkers(config, count=N)`` split 90/10 and sticky by ``X-User-Id``, and ``wrk -t1
-c64 -dD s`` with 1,000 users' ids (and, as a second variant, ``Connection: close`` on
every request, so every request is a new connection). While wrk runs, 100 configs are
applied, evenly spaced, cycling the weights of v1/v2 through 90/10 → 50/50 → 0/100 →
100/0. Counted: wrk's non-2xx responses and socket errors, the router's own 5xx and
refused requests per version, whether both versions got traffic, and the share v2 got
under each weight. The anchor is the same load for the same time with no change at all.
bench/README.md says what each figure means and records results. Needs nginx and wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import uvloop
from contenders import BenchmarkError, Contender, andon_config, need, start_upstreams
from measuring import describe_machine, parse_wrk, write_script

from andon.agent.router import Router, RouterConfig, RouterWorkers

CYCLE = (90, 50, 0, 100)
"""v1's weight after each change, in turn (v2 gets the rest); the run starts at 90."""
VERSIONS = ("v1", "v2")

# The users of measuring.py's script, each request also asking for its connection to close.
_CLOSE_LUA = """
local requests = {}
local count = 0
init = function(args)
  for i = 1, 1000 do
    requests[i] = wrk.format(nil, "/", {["X-User-Id"] = "user-" .. i, ["Connection"] = "close"})
  end
end
request = function()
  count = count % 1000 + 1
  return requests[count]
end
"""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def config(upstreams: tuple[int, int], v1_weight: int) -> RouterConfig:
    """run.py's router config (sticky by X-User-Id) with v1 at ``v1_weight`` percent."""
    data = andon_config(upstreams)
    versions = data["versions"]
    assert isinstance(versions, list)
    versions[0]["weight"], versions[1]["weight"] = v1_weight, 100 - v1_weight
    return RouterConfig.from_dict(data)


class Target(Protocol):
    kind: str
    port: int

    async def apply(self, config: RouterConfig) -> None: ...
    async def snapshot(self) -> dict[str, Any]: ...
    async def stop(self) -> None: ...
    def pids(self) -> list[int]: ...


class Workers:
    """The router as ``RouterWorkers``: N processes on one port."""

    def __init__(self, group: RouterWorkers) -> None:
        self.group = group
        self.kind = f"RouterWorkers(count={group.count})"
        self.port = group.port

    async def apply(self, config: RouterConfig) -> None:
        await self.group.apply(config)

    async def snapshot(self) -> dict[str, Any]:
        return await self.group.snapshot()

    async def stop(self) -> None:
        await self.group.stop(grace=1)

    def pids(self) -> list[int]:
        return list(self.group.pids)


class InProcess:
    """The router as one ``Router`` in this process's event loop (the fallback)."""

    def __init__(self, router: Router, why: str) -> None:
        self.router = router
        self.kind = f"Router in-process ({why})"
        self.port = router.address[1]

    async def apply(self, config: RouterConfig) -> None:
        self.router.apply(config)

    async def snapshot(self) -> dict[str, Any]:
        return self.router.metrics.snapshot()

    async def stop(self) -> None:
        await self.router.stop(grace=1)

    def pids(self) -> list[int]:
        return [os.getpid()]


async def start_router(upstreams: tuple[int, int], workers: int, kind: str) -> Target:
    """RouterWorkers with ``workers`` processes, checked with a request, a config and a
    snapshot; the in-process Router when that fails (one worker only) or is asked for."""
    initial = config(upstreams, CYCLE[0])
    why = "asked for with --router inprocess"
    if kind == "workers":
        group = RouterWorkers(initial, count=workers)
        try:
            await group.start("127.0.0.1", 0)
            target = Workers(group)
            await _probe(target, upstreams)
            return target
        except Exception as exc:
            with contextlib.suppress(Exception):
                await group.stop(grace=0)
            why = f"fallback: RouterWorkers failed: {type(exc).__name__}: {exc}"
            if workers != 1:
                raise BenchmarkError(
                    f"RouterWorkers(count={workers}) failed ({exc}); the in-process fallback "
                    "has one worker only: run with --workers 1 or retry later."
                ) from exc
            progress(f"RouterWorkers misbehaved, using the in-process Router: {why}")
    router = Router(initial)
    await router.start("127.0.0.1", 0)
    target = InProcess(router, why)
    await _probe(target, upstreams)
    return target


async def _probe(target: Target, upstreams: tuple[int, int]) -> None:
    """One request answered 200 by v1 or v2, a config applied and a snapshot read."""
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: bench\r\nX-User-Id: probe\r\nConnection: close\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    if not answer.startswith(b"HTTP/1.1 200") or not answer.endswith((b"v1", b"v2")):
        raise BenchmarkError(f"the router's first answer is not 200 v1/v2: {answer[:200]!r}")
    await target.apply(config(upstreams, CYCLE[0]))
    await target.snapshot()


@dataclass
class Run:
    """One wrk run against the router, with or without weight changes."""

    workers: int
    variant: str
    changes: int
    router: str
    requests: int = 0
    requests_per_second: float = 0.0
    p99_ms: float = 0.0
    non_2xx: int = 0
    socket_errors: int = 0
    socket_error_detail: str = ""
    served: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per version, responses by class, as the router counted them during the run."""
    rejected: int = 0
    cancelled: int = 0
    v2_share: dict[str, float] = field(default_factory=dict)
    """By v2's weight (``"0"``, ``"10"``, ``"50"``, ``"100"``): v2's share of the responses
    counted while that weight was in force (from a snapshot just after one change to a
    snapshot just before the next)."""
    stray: list[int] = field(default_factory=list)
    """Per phase where one version's weight is 0: the responses that version still sent
    in it (requests it had in flight when the change was applied)."""
    apply_ms: list[float] = field(default_factory=list)
    workers_replaced: bool = False
    load_after: float = 0.0

    @property
    def router_errors(self) -> int:
        return sum(self.served.get(v, {}).get("5xx", 0) for v in VERSIONS) + self.rejected

    @property
    def both_served(self) -> bool:
        return all(self.served.get(v, {}).get("2xx", 0) > 0 for v in VERSIONS)

    @property
    def clean(self) -> bool:
        return (
            self.non_2xx == 0
            and self.socket_errors == 0
            and self.router_errors == 0
            and self.both_served
        )


Counts = dict[str, dict[str, int]]
"""Per version (and ``_rejected``), the router's counters by class."""


def _counts(snapshot: dict[str, Any]) -> Counts:
    found = {}
    for name in VERSIONS:
        version = snapshot["versions"].get(name)
        requests = dict(version["requests"]) if version else {}
        requests["cancelled"] = version["cancelled"] if version else 0
        found[name] = requests
    found["_rejected"] = {"all": sum(snapshot.get("rejected", {}).values())}
    return found


def _minus(after: dict[str, dict[str, int]], before: dict[str, dict[str, int]]) -> Any:
    return {
        name: {key: value - before.get(name, {}).get(key, 0) for key, value in counts.items()}
        for name, counts in after.items()
    }


async def wrk(port: int, *, duration: int, connections: int, script: Path) -> tuple[Any, str]:
    command = [
        need("wrk"),
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}/",
    ]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await process.communicate()
    except BaseException:
        # Cancelled (Ctrl-C, or a change failed): wrk must not outlive the run.
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise BenchmarkError(f"wrk exited {process.returncode}: {err.decode()[-1000:]}")
    return parse_wrk(out.decode()), out.decode()


async def measure(
    target: Target,
    upstreams: tuple[int, int],
    *,
    workers: int,
    variant: str,
    script: Path,
    duration: int,
    connections: int,
    changes: int,
) -> Run:
    """wrk for ``duration`` seconds while ``changes`` configs are applied, evenly spaced."""
    run = Run(workers=workers, variant=variant, changes=changes, router=target.kind)
    await target.apply(config(upstreams, CYCLE[0]))
    pids = target.pids()
    loop = asyncio.get_running_loop()
    start = _counts(await target.snapshot())
    # (v2's weight, counters when it was set, counters just before the next change)
    phases: list[tuple[int, Counts, Counts]] = []
    since: tuple[int, Counts] = (100 - CYCLE[0], start)
    began = loop.time()
    load = asyncio.ensure_future(
        wrk(target.port, duration=duration, connections=connections, script=script)
    )
    interval = duration / (changes + 1)
    try:
        for number in range(1, changes + 1):
            await asyncio.sleep(max(0.0, began + number * interval - loop.time()))
            v1_weight = CYCLE[number % len(CYCLE)]
            changed = config(upstreams, v1_weight)
            phases.append((*since, _counts(await target.snapshot())))
            applying = time.perf_counter()
            await target.apply(changed)
            run.apply_ms.append((time.perf_counter() - applying) * 1000)
            since = (100 - v1_weight, _counts(await target.snapshot()))
        result, output = await load
    except BaseException:
        load.cancel()
        raise
    end = _counts(await target.snapshot())
    run.workers_replaced = target.pids() != pids
    total = re.search(r"(\d+) requests in", output)
    errors = re.search(r"Socket errors: (.*)", output)
    run.requests = int(total.group(1)) if total else 0
    run.requests_per_second = result.requests_per_second
    run.p99_ms = result.p99_ms
    run.non_2xx = result.non_2xx
    run.socket_errors = result.socket_errors
    run.socket_error_detail = errors.group(1).strip() if errors else ""
    served = _minus(end, start)
    run.rejected = served.pop("_rejected")["all"]
    run.cancelled = sum(counts.pop("cancelled") for counts in served.values())
    run.served = served
    phases.append((*since, end))
    run.v2_share, run.stray = _shares(phases)
    run.load_after = round(os.getloadavg()[0], 2)
    return run


def _shares(phases: list[tuple[int, Counts, Counts]]) -> tuple[dict[str, float], list[int]]:
    """v2's share of the responses of each phase, by v2's weight in it; and, in each phase
    where a version's weight is 0, how many responses that version still sent."""
    totals: dict[int, list[int]] = {}
    stray = []
    for weight, before, after in phases:
        served = _minus(after, before)
        v1, v2 = served["v1"].get("2xx", 0), served["v2"].get("2xx", 0)
        into = totals.setdefault(weight, [0, 0])
        into[0] += v1
        into[1] += v2
        if weight in {0, 100}:
            stray.append(v2 if weight == 0 else v1)
    shares = {
        str(weight): round(v2 / (v1 + v2), 4) if v1 + v2 else 0.0
        for weight, (v1, v2) in sorted(totals.items())
    }
    return shares, stray


def write_close_script(workdir: Path) -> Path:
    path = workdir / "users-close.lua"
    path.write_text(_CLOSE_LUA)
    return path


async def measure_router(
    target: Target,
    pair: tuple[int, int],
    workers: int,
    args: argparse.Namespace,
    scripts: dict[str, Path],
) -> list[Run]:
    """Each round, each variant: the anchor (no change) and the run with changes; which of
    the two goes first alternates, so that neither always runs on the warmer router."""
    runs = []
    for number in range(args.rounds):
        for index, variant in enumerate(args.variants):
            order = (0, args.changes) if (number + index) % 2 == 0 else (args.changes, 0)
            for changes in order:
                run = await measure(
                    target,
                    pair,
                    workers=workers,
                    variant=variant,
                    script=scripts[variant],
                    duration=args.duration,
                    connections=args.connections,
                    changes=changes,
                )
                runs.append(run)
                progress(
                    f"round {number + 1}/{args.rounds}, workers {workers}, {variant}, "
                    f"{changes} changes: {run.requests:,} requests, "
                    f"{run.requests_per_second:,.0f} req/s, non-2xx {run.non_2xx}, "
                    f"socket errors {run.socket_errors}, router 5xx+refused "
                    f"{run.router_errors}, v2 share {run.v2_share}, load {run.load_after}"
                )
    return runs


async def main_async(args: argparse.Namespace, workdir: Path) -> list[Run]:
    scripts = {"keepalive": write_script(workdir), "close": write_close_script(workdir)}
    upstreams_process: Contender | None = None
    runs: list[Run] = []
    try:
        upstreams_process, first, second = start_upstreams(workdir)
        pair = (first, second)
        for workers in args.workers:
            target = await start_router(pair, workers, args.router)
            progress(f"router: {target.kind} on port {target.port}")
            try:
                progress("warming up (2 s)")
                await wrk(
                    target.port,
                    duration=2,
                    connections=args.connections,
                    script=scripts["keepalive"],
                )
                runs += await measure_router(target, pair, workers, args, scripts)
            finally:
                await target.stop()
    finally:
        if upstreams_process is not None:
            upstreams_process.stop()
    return runs


def render(runs: list[Run], machine: dict[str, Any], args: argparse.Namespace) -> str:
    """One line per worker count, variant and number of changes: sums of the counts,
    medians of req/s, p99 and v2's shares over the rounds."""
    lines = [
        f"{machine['date']} · {machine['cpus']} CPUs ({machine['cpu_model']}) · "
        f"{machine['system']} · Python {machine['python']} · load {machine['load_before']} "
        f"→ {machine['load_after']}",
        f"wrk -t1 -c{args.connections} -d{args.duration}s, {args.rounds} round(s); "
        f"{args.changes} weight changes ({' → '.join(f'{w}/{100 - w}' for w in CYCLE)} …) "
        "spread over each changing run",
        "",
        f"{'workers':>7} {'conn.':<9} {'changes':>7} {'runs':>4} {'requests':>9} {'req/s':>7} "
        f"{'p99 ms':>7} {'non-2xx':>7} {'sock.err':>8} {'5xx+ref':>7} {'2xx v1':>9} "
        f"{'2xx v2':>9}  {'v2 % at v2 weight 0/10/50/100':<30} {'stray max':>9}  "
        "apply ms med/max",
    ]
    groups: dict[tuple[int, str, int], list[Run]] = {}
    for run in sorted(runs, key=lambda r: (r.workers, args.variants.index(r.variant), r.changes)):
        groups.setdefault((run.workers, run.variant, run.changes), []).append(run)
    for (workers, variant, changes), group in groups.items():
        shares = "/".join(
            f"{statistics.median(r.v2_share[w] for r in group) * 100:.2f}"
            if w in group[0].v2_share
            else "-"
            for w in ("0", "10", "50", "100")
        )
        applied = [ms for run in group for ms in run.apply_ms]
        applying = f"{statistics.median(applied):.2f}/{max(applied):.2f}" if applied else "-"
        stray = [count for run in group for count in run.stray]
        lines.append(
            f"{workers:>7} {variant:<9} {changes:>7} {len(group):>4} "
            f"{sum(r.requests for r in group):>9,} "
            f"{statistics.median(r.requests_per_second for r in group):>7,.0f} "
            f"{statistics.median(r.p99_ms for r in group):>7.2f} "
            f"{sum(r.non_2xx for r in group):>7} {sum(r.socket_errors for r in group):>8} "
            f"{sum(r.router_errors for r in group):>7} "
            f"{sum(r.served['v1'].get('2xx', 0) for r in group):>9,} "
            f"{sum(r.served['v2'].get('2xx', 0) for r in group):>9,}  "
            f"{shares:<30} {max(stray) if stray else '-':>9}  {applying}"
        )
    kinds = sorted({run.router for run in runs})
    replaced = [run for run in runs if run.workers_replaced]
    lines += [
        "",
        f"router: {'; '.join(kinds)}; "
        + (f"a worker was replaced in {len(replaced)} run(s)" if replaced else "no worker died"),
    ]
    changing = [run for run in runs if run.changes]
    failed = [run for run in changing if not run.clean]
    verdict = "met" if changing and not failed else "NOT MET"
    lines.append(
        f"0 non-2xx during {args.changes} weight changes under load: {verdict} "
        f"({len(changing) - len(failed)}/{len(changing)} runs clean: no non-2xx, no socket "
        "error, no 5xx or refusal counted by the router, both versions served)"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--variants", nargs="+", choices=["keepalive", "close"], default=["keepalive", "close"]
    )
    parser.add_argument("--router", choices=["workers", "inprocess"], default="workers")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.router == "inprocess" and args.workers != [1]:
        parser.error("the in-process Router is one worker: use --workers 1")
    # SIGTERM stops it as Ctrl-C does: the run is cancelled and everything it started ends.
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))
    try:
        need("wrk")
        machine = describe_machine()
        with tempfile.TemporaryDirectory(prefix="andon-weights-bench-") as directory:
            runs = uvloop.run(main_async(args, Path(directory)))
    except BenchmarkError as exc:
        print(f"weights benchmark: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("weights benchmark interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    machine["load_after"] = [round(value, 2) for value in os.getloadavg()]
    if args.json:
        report = {
            "machine": machine,
            "duration": args.duration,
            "connections": args.connections,
            "changes": args.changes,
            "cycle_v1_weights": list(CYCLE),
            "runs": [
                asdict(run) | {"router_errors": run.router_errors, "clean": run.clean}
                for run in runs
            ],
            "met": all(run.clean for run in runs if run.changes),
        }
        print(json.dumps(report, indent=2))
    else:
        print(render(runs, machine, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
