"""Rollout benchmark: bad canaries of the example shop rolled back by the immune system
under steady load, and the false-rollback rate of good ones.

    /work/venv/bin/python bench/rollout/run.py [--trials N] [--good-trials M] [--json]
                                               [--scenarios errors,latency,orders,good]

A whole Andon in a temporary ANDON_HOME (``andon.testing.stacks.start_stack``: agent,
server, the shop in a git repository with a green pipeline), its andon.yaml made into a
quick canary (``releases.quick_canary``), the staging environment up with a huge stock,
and a load of about 200 req/s through its router (``load.py``) for the whole run. Then,
round by round, a release with one fault is deployed by canary and followed to its end:
(a) 5% of the canary's requests fail, (b) +300 ms on every request, (c) 30% of orders
dropped with no error; and then good releases, to count false rollbacks. Progress goes to
stderr, the table (or JSON) to stdout. Everything started is stopped at the end, on a
failure, on Ctrl-C and on SIGTERM. bench/README.md says what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from load import Answer, Load, failed_share, rate_of
from releases import (
    ANALYSIS_SECONDS,
    CANARY_WEIGHT,
    ENVIRONMENT,
    FINALIZE_DELAY,
    INTERVAL,
    MIN_SAMPLES,
    ORDERS_MAX_DECREASE,
    SHOP_DIR,
    STABLE_CHECKOUT_ERROR_RATE,
    ReleaseError,
    commit_release,
    lowest_stock,
    quick_canary,
    raise_stock,
)
from trials import Trial, TrialError, run_trial, undo_release

from andon.testing.stacks import Stack, StackError, start_stack

# The machine's description and the medians are the pipeline benchmark's.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipeline"))
from summaries import describe_machine, load_average, summarize

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / SHOP_DIR
RATE = 200.0
CHECKOUT_SHARE = 0.2
"""Share of all requests that are checkouts: 40 journeys of 3 requests and 80 reads a second."""
ERROR_SHARE = 0.05
"""(a): the share of the canary's requests that fail; its checkouts fail at
ERROR_SHARE / CHECKOUT_SHARE (25%)."""

GOAL_ERRORS_BACK_S = 10.0
GOAL_ERRORS_FAILED = 0.002
GOAL_ORDERS_DETECTED_S = 60.0
GOAL_FALSE_ROLLBACKS = 0.02
FLAGGER_MIN_S = 10.0
"""Flagger: analysis interval at least 10 s, times threshold (failed checks) at least 1."""
FLAGGER_DEFAULT_S = 300.0
"""Flagger with a 60 s interval (its default) and a threshold of 5 (its docs' examples)."""


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    faults: dict[str, Any]
    bad: bool = True


SCENARIOS = {
    "errors": Scenario(
        "errors",
        "(a) 5% errors",
        {"checkout_error_rate": round(ERROR_SHARE / CHECKOUT_SHARE, 6)},
    ),
    "latency": Scenario("latency", "(b) +300 ms", {"added_latency_ms": 300}),
    "orders": Scenario("orders", "(c) orders -30%", {"order_drop_rate": 0.3}),
    "good": Scenario("good", "(d) good release", {}, bad=False),
}


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@dataclass
class Anchor:
    seconds: float
    requests: int
    failed: int
    rate: float
    p50: float
    p99: float
    versions: dict[str, int]


def steady(load: Load, seconds: float) -> Anchor:
    """The in-run anchor: the same load with no rollout for ``seconds``."""
    start = time.time()
    time.sleep(seconds)
    answers = load.between(start, time.time() - 1.0)
    latencies = sorted(answer.done - answer.sent for answer in answers if not answer.failed)
    return Anchor(
        seconds=seconds,
        requests=len(answers),
        failed=sum(answer.failed for answer in answers),
        rate=rate_of(answers),
        p50=_quantile(latencies, 0.5),
        p99=_quantile(latencies, 0.99),
        versions=dict(Counter(answer.version for answer in answers)),
    )


def _quantile(values: Sequence[float], q: float) -> float:
    return values[min(int(q * len(values)), len(values) - 1)] if values else 0.0


def measure(
    root: Path,
    scenarios: list[Scenario],
    *,
    trials: int,
    good_trials: int,
    anchor_s: float,
    journal: Path | None = None,
) -> dict[str, Any]:
    """Start everything, run the anchor and every trial; stop everything."""
    timings: dict[str, float] = {}
    began = time.monotonic()
    progress("starting Andon (agent, server), the shop's first pipeline")
    with start_stack(root, SHOP, directory=SHOP_DIR, edit=quick_canary, backoff=1.0) as stack:
        timings["stack_s"] = time.monotonic() - began
        up = stack.ok("env", "up", ENVIRONMENT, "--wait")
        url = up.stdout.strip().splitlines()[-1]
        raise_stock(stack.database(ENVIRONMENT))
        address = urlsplit(url)
        assert address.hostname is not None and address.port is not None
        load = Load(address.hostname, address.port, rate=RATE, checkout_share=CHECKOUT_SHARE)
        progress(f"{ENVIRONMENT} is up at {url}; load of {RATE:g} req/s started")
        load.start()
        try:
            time.sleep(3.0)  # connections and the shop's first requests, not measured
            anchor = steady(load, anchor_s)
            stable = max(anchor.versions, key=anchor.versions.__getitem__)
            progress(
                f"anchor: {anchor.requests} requests in {anchor_s:g} s ({anchor.rate:.0f} req/s), "
                f"{anchor.failed} failed, p50 {anchor.p50 * 1000:.1f} ms, "
                f"p99 {anchor.p99 * 1000:.1f} ms; stable {stable}"
            )
            session = Session(stack, load, stable, journal)
            bad = [scenario for scenario in scenarios if scenario.bad]
            started = time.monotonic()
            for round_number in range(1, trials + 1 if bad else 1):
                for scenario in bad:
                    session.until_traffic(scenario, round_number, of=trials)
            timings["bad_s"] = time.monotonic() - started
            started = time.monotonic()
            if any(not scenario.bad for scenario in scenarios):
                for number in range(1, good_trials + 1):
                    session.trial(SCENARIOS["good"], number, of=good_trials)
            timings["good_s"] = time.monotonic() - started
        finally:
            load.stop()
        stock = lowest_stock(stack.database(ENVIRONMENT))
        answers: list[Answer] = load.answers
    timings["total_s"] = time.monotonic() - began
    return {
        "trials": session.results,
        "anchor": anchor,
        "timings": timings,
        "lowest_stock": stock,
        "skipped": load.skipped,
        "all_requests": len(answers),
        "all_failed": sum(answer.failed for answer in answers),
        "all_failed_share": failed_share(answers),
    }


class Session:
    """The trials against one environment under one load: which version is stable, and
    the trials so far, each also written as a JSON line to ``journal`` when given, so
    that a run cut short keeps what it measured."""

    def __init__(self, stack: Stack, load: Load, stable: str, journal: Path | None) -> None:
        self.stack, self.load, self.stable, self.journal = stack, load, stable, journal
        self.results: list[Trial] = []
        if journal is not None:
            journal.write_text("")

    def until_traffic(self, scenario: Scenario, number: int, *, of: int) -> None:
        """Trials of ``scenario`` until one reaches customers, at most 4: a deploy whose
        smoke tests caught the fault is counted, and another release is made."""
        for attempt in range(1, 5):
            if self.trial(scenario, number, of=of, attempt=attempt).reached_traffic:
                return

    def trial(self, scenario: Scenario, number: int, *, of: int, attempt: int = 1) -> Trial:
        label = f"{scenario.key} trial {number}" + (f" attempt {attempt}" if attempt > 1 else "")
        release = commit_release(self.stack, label, scenario.faults)
        trial = run_trial(
            self.stack,
            self.load,
            release,
            scenario=scenario.key,
            number=number,
            stable=self.stable,
            timeout=ANALYSIS_SECONDS + 120.0,
        )
        if trial.outcome == "succeeded" and scenario.bad:
            # A missed fault now serves everyone: undo it (blue-green back to the old
            # release), so that the next trials compare with a good stable version.
            progress(f"{scenario.key} {number}/{of}: promoted a bad release; undoing it")
            undo_release(self.stack, self.stable, timeout=120.0)
        elif trial.outcome == "succeeded":
            self.stable = trial.commit
        self.results.append(trial)
        if self.journal is not None:
            with self.journal.open("a") as handle:
                handle.write(json.dumps(trial.to_dict()) + "\n")
        parts = [f"{scenario.key} {number}/{of}: {trial.outcome}"]
        if trial.detected_s is not None:
            parts.append(f"decided {trial.detected_s:.1f} s after the first canary answer")
        if trial.back_on_stable_s is not None:
            parts.append(f"all back on stable at {trial.back_on_stable_s:.1f} s")
        parts.append(
            f"{trial.failed}/{trial.requests} failed ({trial.failed_share:.2%}; "
            f"canary {trial.canary_failed}/{trial.canary_requests})"
        )
        parts.append("status shows it" if trial.shown_by_status else "status does NOT show it")
        progress(", ".join(parts) + f" -- {trial.message[:160]}")
        return trial


# -- the table


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    """``s``, ``%`` (stored as a fraction), ``n`` (a count) or ``text``."""
    values: tuple[float, ...] = ()
    value: float | str | None = None
    goal: float | None = None
    note: str = ""

    def verdict(self) -> str:
        if self.goal is None:
            return ""
        if self.values:
            summary = summarize(self.values)
            if summary.p90 <= self.goal:
                return "met"
            if summary.median <= self.goal:
                return "met at median, not at p90"
            return "NOT MET"
        if isinstance(self.value, float | int):
            return "met" if self.value <= self.goal else "NOT MET"
        return ""

    def cells(self) -> tuple[str, str]:
        if self.values:
            summary = summarize(self.values)
            return _show(summary.median, self.unit), _show(summary.p90, self.unit)
        if self.value is None:
            return "-", ""
        return _show(self.value, self.unit), ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"label": self.label.strip(), "unit": self.unit, "note": self.note}
        if self.values:
            data.update(summarize(self.values).to_dict())
        if self.value is not None:
            data["value"] = self.value
        if self.goal is not None:
            data["goal_max"] = self.goal
            data["verdict"] = self.verdict()
        return data


def _show(value: float | str, unit: str) -> str:
    if isinstance(value, str):
        return value
    if unit == "s":
        return f"{value:.1f} s"
    if unit == "%":
        return f"{value * 100:.2f}%"
    if unit == "n":
        return f"{value:g}"
    return str(value)


def figures(measured: dict[str, Any], settings: dict[str, Any]) -> list[Figure]:
    trials: list[Trial] = measured["trials"]
    anchor: Anchor = measured["anchor"]
    table: list[Figure] = []
    for key in ("errors", "latency", "orders"):
        scenario = SCENARIOS[key]
        mine = [trial for trial in trials if trial.scenario == key]
        if not mine:
            continue
        served = [trial for trial in mine if trial.reached_traffic]
        back = [t.back_on_stable_s for t in served if t.back_on_stable_s is not None]
        detected = [t.detected_s for t in served if t.detected_s is not None]
        rolled = sum(trial.outcome == "rolled_back" for trial in served)
        shown = sum(trial.shown_by_status for trial in served if trial.outcome == "rolled_back")
        caught = len(mine) - len(served)
        missed = len(served) - len(back)
        note = f"{len(back)} of {len(served)} trials" + (
            f"; {missed} never went back" if missed else ""
        )
        table.append(
            Figure(
                f"{key}_back_on_stable",
                f"{scenario.title}: first canary answer -> all traffic on stable",
                "s",
                tuple(back),
                goal=GOAL_ERRORS_BACK_S if key == "errors" else None,
                note=note,
            )
        )
        table.append(
            Figure(
                f"{key}_decided",
                "    first canary answer -> decision to roll back",
                "s",
                tuple(detected),
                goal=GOAL_ORDERS_DETECTED_S if key == "orders" else None,
            )
        )
        table.append(
            Figure(
                f"{key}_switch",
                "    decision -> last canary answer",
                "s",
                tuple(t.switch_s for t in served if t.switch_s is not None and t.back_on_stable_s),
            )
        )
        table.append(
            Figure(
                f"{key}_failed",
                "    requests failed, deploy -> rollout ended",
                "%",
                tuple(t.failed_share for t in served),
                goal=GOAL_ERRORS_FAILED if key == "errors" else None,
                note="5xx or no answer, all versions",
            )
        )
        table.append(
            Figure(
                f"{key}_canary_failed",
                "    of which answered by the canary (requests)",
                "n",
                tuple(float(t.canary_failed) for t in served),
                note=f"of {statistics.median([t.canary_requests for t in served]):g} it served"
                if served
                else "",
            )
        )
        table.append(
            Figure(
                f"{key}_outcomes",
                "    rolled back by itself; decision shown by status",
                "text",
                value=f"{rolled}/{len(served)}; {shown}/{rolled}",
                note=(f"{caught} more caught by smoke tests before any traffic" if caught else ""),
            )
        )
    good = [trial for trial in trials if trial.scenario == "good"]
    if good:
        count = Counter(trial.outcome for trial in good)
        n = len(good)
        table.append(
            Figure(
                "good_rolled_back",
                f"(d) good release, {n} trials: rolled back (false rollbacks)",
                "%",
                value=count["rolled_back"] / n,
                goal=GOAL_FALSE_ROLLBACKS,
                note=f"{count['rolled_back']} of {n}",
            )
        )
        table.append(
            Figure(
                "good_paused",
                "    paused, inconclusive",
                "%",
                value=count["paused"] / n,
                note=f"{count['paused']} of {n}",
            )
        )
        table.append(
            Figure(
                "good_failed",
                "    failed before traffic (smoke tests, instances)",
                "%",
                value=count["failed"] / n,
                note=f"{count['failed']} of {n}",
            )
        )
        table.append(
            Figure(
                "good_succeeded",
                "    promoted: 100% on the new version",
                "%",
                value=count["succeeded"] / n,
                note=f"{count['succeeded']} of {n}",
            )
        )
        table.append(
            Figure(
                "good_trial",
                "    one trial: deploy launched -> rollout ended",
                "s",
                tuple(t.ended_at - t.deploy_at for t in good),
            )
        )
        table.append(
            Figure(
                "good_to_traffic",
                "    deploy launched -> first canary answer",
                "s",
                tuple(t.to_traffic_s for t in good if t.to_traffic_s is not None),
                note="CLI, instance, migrations, smoke tests",
            )
        )
        table.append(
            Figure(
                "good_failed_requests",
                "    requests failed, deploy -> rollout ended",
                "%",
                tuple(t.failed_share for t in good),
            )
        )
    table.append(
        Figure(
            "anchor_failed",
            f"steady load, no rollout ({anchor.seconds:g} s): requests failed",
            "%",
            value=anchor.failed / anchor.requests if anchor.requests else 0.0,
            note=f"in-run anchor: {anchor.failed} of {anchor.requests}, stable's own errors",
        )
    )
    table.append(
        Figure(
            "anchor_rate",
            "    requests per second sent",
            "n",
            value=round(anchor.rate, 1),
            note=f"p50 {anchor.p50 * 1000:.1f} ms, p99 {anchor.p99 * 1000:.1f} ms",
        )
    )
    table.append(
        Figure(
            "flagger_min",
            "Flagger: fastest possible rollback (10 s interval x 1 check)",
            "s",
            value=FLAGGER_MIN_S,
            note="vendor minimum, not run here",
        )
    )
    table.append(
        Figure(
            "flagger_default",
            "Flagger: 60 s default interval x threshold 5",
            "s",
            value=FLAGGER_DEFAULT_S,
            note="vendor default, not run here",
        )
    )
    return table


def render(table: list[Figure], machine: dict[str, Any], settings: dict[str, Any]) -> str:
    loads = "/".join(f"{value:.2f}" for value in machine["load_before"]) or "unknown"
    after = "/".join(f"{value:.2f}" for value in machine["load_after"]) or "unknown"
    minutes = settings["run_seconds"] / 60
    lines = [
        f"Andon rollout benchmark, {machine['date']}, andon {machine['code']}",
        f"machine: {machine['cpus']} x {machine['cpu_model']} ({machine['arch']}), "
        f"{machine['system']}, Python {machine['python']}",
        f"run: {minutes:.1f} min; load average {loads} before, {after} after",
        f"canary: weight {CANARY_WEIGHT}% -> analysis of every metric for up to "
        f"{ANALYSIS_SECONDS} s (interval {INTERVAL}, min_samples {MIN_SAMPLES}, orders "
        f"max_decrease {ORDERS_MAX_DECREASE}) -> 100%; load {RATE:g} req/s, "
        f"{CHECKOUT_SHARE:.0%} checkouts",
        "",
    ]
    width = max(len(row.label) for row in table)
    lines.append(f"{'figure':<{width}}  {'median':>9}  {'p90':>9}  {'goal':>9}  verdict / note")
    for row in table:
        median, p90 = row.cells()
        goal = f"<= {_show(row.goal, row.unit if row.unit != 'text' else 's')}" if row.goal else ""
        notes = ", ".join(part for part in (row.verdict(), row.note) if part)
        lines.append(f"{row.label:<{width}}  {median:>9}  {p90:>9}  {goal:>9}  {notes}")
    return "\n".join(lines)


# -- clean-up beyond the stack's own


def sweep(root: Path) -> int:
    """SIGKILL any process still running under ``root`` or given an ANDON_HOME in it,
    after the stack stopped what it knows of (instances, routers, the daemons)."""
    marker = f"ANDON_HOME={root}".encode()
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd").removesuffix(" (deleted)"))
            ours = cwd == root or root in cwd.parents
            environ = (entry / "environ").read_bytes().split(b"\0")
            ours = ours or any(item.startswith(marker) for item in environ)
        except OSError:
            continue
        if ours:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
    return killed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5, help="trials of (a), (b), (c): 5")
    parser.add_argument("--good-trials", type=int, default=50, help="trials of (d): 50")
    parser.add_argument("--anchor", type=float, default=20.0, help="seconds of steady load: 20")
    parser.add_argument(
        "--scenarios",
        default="errors,latency,orders,good",
        help="which to run, comma-separated (default all: errors,latency,orders,good)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--save",
        type=Path,
        help="also write the JSON report to this file, and each trial as it ends to FILE.trials",
    )
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown or not names or args.trials < 1 or args.good_trials < 1:
        parser.error(f"--scenarios from {', '.join(SCENARIOS)}; --trials and --good-trials >= 1")
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupted)
    machine = describe_machine()
    began = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="andon-rollout-bench-") as scratch:
            root = Path(scratch)
            try:
                measured = measure(
                    root,
                    [SCENARIOS[name] for name in names],
                    trials=args.trials,
                    good_trials=args.good_trials,
                    anchor_s=args.anchor,
                    journal=args.save.with_name(args.save.name + ".trials") if args.save else None,
                )
            finally:
                killed = sweep(root)
                if killed:
                    progress(f"killed {killed} process(es) left running")
    except (ReleaseError, TrialError, StackError, AssertionError) as exc:
        print(f"rollout benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rollout benchmark interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    machine["load_after"] = load_average()
    settings: dict[str, Any] = {
        "run_seconds": time.monotonic() - began,
        "scenarios": names,
        "trials": args.trials,
        "good_trials": args.good_trials,
        "rate": RATE,
        "checkout_share": CHECKOUT_SHARE,
        "faults": {name: SCENARIOS[name].faults for name in names},
        "stable_checkout_error_rate": STABLE_CHECKOUT_ERROR_RATE,
        "canary_weight": CANARY_WEIGHT,
        "analysis_seconds": ANALYSIS_SECONDS,
        "interval": INTERVAL,
        "min_samples": MIN_SAMPLES,
        "orders_max_decrease": ORDERS_MAX_DECREASE,
        "finalize_delay": FINALIZE_DELAY,
    }
    table = figures(measured, settings)
    report = {
        "machine": machine,
        "settings": settings,
        "timings": measured["timings"],
        "figures": {row.key: row.to_dict() for row in table},
        "anchor": measured["anchor"].__dict__,
        "whole_run": {
            "requests": measured["all_requests"],
            "failed": measured["all_failed"],
            "failed_share": measured["all_failed_share"],
            "skipped_arrivals": measured["skipped"],
            "lowest_stock_at_end": measured["lowest_stock"],
        },
        "trials": [trial.to_dict() for trial in measured["trials"]],
    }
    if args.json:
        print(json.dumps(report, indent=2))
    if args.save:
        args.save.write_text(json.dumps(report, indent=2) + "\n")
    if not args.json:
        print(render(table, machine, settings))
        print(
            f"\nwhole run: {measured['all_requests']} requests, {measured['all_failed']} failed "
            f"({measured['all_failed_share']:.3%}); arrivals skipped {measured['skipped']}; "
            f"lowest stock at the end {measured['lowest_stock']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
