"""SDK local evaluation benchmark: one flag, 200,000 distinct users, Andon beside Unleash,
LaunchDarkly, GrowthBook and flagd's in-process provider, in one process and one run.

    bench/flags/run.sh [--users N] [--rounds R] [--slices S] [--only a,b,...] [--save PATH]
                       [--no-memory] [--json]

(``run.sh`` makes the benchmark's own venv, with Andon and ``requirements.txt``, and runs
this file in it; ``eval.py`` itself needs only that venv's Python.)

The flag is *on for 50% of users, sticky on the user id, only where country is NL or DE*
(``contenders.py`` has it in each SDK's format). Every SDK runs offline from a local
document. For each contender: import and load (timed), the users turned into its own
context objects, one *first pass* over all users (timed: every user is new to the SDK),
one pass collecting the answers (for the checks). Then ``--rounds`` rounds: in each, every
contender evaluates the flag once for every user; the users are cut into ``--slices``
slices and every contender evaluates a slice in turn, in an order rotated per round, before
the next slice, so that all of them share the machine's noise. A figure is a round's wall
time in the evaluating loop / users; medians and p90s are over the rounds. Memory is
measured afterwards in a fresh process per contender (``--memory-of``): RSS, and the
Python heap as tracemalloc sees it (blind to memory that native code allocates, such as
Unleash's Rust engine).

Checks, printed and saved: each contender's share of users the flag is on for, among
NL/DE users (about 50%) and elsewhere (0%); Andon's answer against flagd's, the hand-
written check's and the SDK's against the engine's, user by user.

Progress goes to stderr; the table (or ``--json``) to stdout; the JSON, with every sample,
the machine and the load, also to ``--save`` (a file under /tmp by default).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import logging
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# The machine's description and the medians are the pipeline benchmark's.
sys.path.insert(0, str(HERE.parent / "pipeline"))
from contenders import (  # noqa: E402
    CONTENDERS,
    FLAG_KEY,
    ON_COUNTRIES,
    Contender,
    Flagd,
    UnavailableError,
    User,
    make_users,
)
from summaries import Summary, describe_machine, load_average, percentile, summarize  # noqa: E402

USERS = 200_000
ROUNDS = 9
SLICES = 20
GOAL_NS = 1_000.0
"""Goal: at most 1 µs per evaluation (Andon's headline figure, at the p90 of the rounds)."""
GOAL_RATIO = 7.0
"""Goal: at least 7 times faster than the fastest competitor, in the same run."""
ISSUE_FIGURES_US = {
    "growthbook": 7.55,
    "launchdarkly": 21.7,
    "flagd": 45.2,
    "unleash": 46.7,
    "hand": 0.19,
}
"""Quoted in the issue, measured on 2026-11-30 on this kind of machine: context only."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Entry:
    """One contender's run: what it is and what it measured."""

    contender: Contender
    available: bool = True
    skipped: str = ""
    load_s: float = 0.0
    contexts: list[Any] = field(default_factory=list)
    first_pass_ns: float = 0.0
    answers: list[bool] = field(default_factory=list)
    samples_ns: list[float] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.contender.name


# -- timing ---------------------------------------------------------------------------------


def timed_pass(run: Any, users: int) -> tuple[float, int]:
    """ns per evaluation of one pass, and how many users the flag was on for."""
    gc.collect()
    start = time.perf_counter_ns()
    on = run()
    return (time.perf_counter_ns() - start) / users, on


def prepare(entry: Entry, users: list[User]) -> None:
    contender = entry.contender
    log(f"  {contender.name}: loading")
    start = time.perf_counter()
    try:
        contender.load()
    except UnavailableError as reason:
        entry.available, entry.skipped = False, str(reason)
        log(f"  {contender.name}: skipped, {reason}")
        return
    entry.load_s = time.perf_counter() - start
    entry.contexts = contender.contexts(users)
    run = contender.make_pass(entry.contexts)
    entry.first_pass_ns, _ = timed_pass(run, len(users))
    entry.answers = [bool(answer) for answer in contender.answers(entry.contexts)]
    log(
        f"  {contender.name}: loaded in {entry.load_s * 1000:.0f} ms, first pass "
        f"{entry.first_pass_ns:,.0f} ns/eval"
    )


def run_rounds(entries: list[Entry], rounds: int, users: int, slices: int) -> list[float]:
    """``rounds`` rounds; in each, every contender evaluates the flag once for every user.
    The users are cut into ``slices``, and each slice is evaluated by every contender in
    turn (in an order rotated per round) before the next: a contender's time is spread
    over the whole round, so that a burst of other work on the machine falls on all of
    them alike rather than on whichever ran then. The load average after each round."""
    ready = [entry for entry in entries if entry.available]
    size = -(-users // slices)
    bounds = [(start, min(start + size, users)) for start in range(0, users, size)]
    runs = {
        entry.name: [entry.contender.make_pass(entry.contexts[lo:hi]) for lo, hi in bounds]
        for entry in ready
    }
    loads = []
    for round_index in range(rounds):
        shift = round_index % len(ready)
        order = ready[shift:] + ready[:shift]
        spent = dict.fromkeys(runs, 0)
        started = time.monotonic()
        gc.collect()
        for index in range(len(bounds)):
            for entry in order:
                run = runs[entry.name][index]
                start = time.perf_counter_ns()
                run()
                spent[entry.name] += time.perf_counter_ns() - start
        for entry in ready:
            entry.samples_ns.append(spent[entry.name] / users)
        loads.append(load_average()[0] if load_average() else float("nan"))
        log(
            f"  round {round_index + 1}/{rounds} ({time.monotonic() - started:.0f} s, load "
            f"{loads[-1]}): " + ", ".join(f"{e.name} {e.samples_ns[-1]:,.0f}" for e in ready)
        )
    return loads


# -- memory, in a fresh process per contender -----------------------------------------------


def _status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure_memory(name: str, users_count: int, mode: str) -> dict[str, Any]:
    """In this (fresh) process: what loading ``name`` and evaluating it for every user
    costs. ``rss``: resident set deltas in KiB; ``tracemalloc``: Python heap bytes."""
    users = make_users(users_count)
    contender = CONTENDERS[name]()
    gc.collect()
    if mode == "tracemalloc":
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        contender.load()
        gc.collect()
        loaded = tracemalloc.get_traced_memory()[0]
        contexts = contender.contexts(users)
        gc.collect()
        with_contexts = tracemalloc.get_traced_memory()[0]
        run = contender.make_pass(contexts)
        tracemalloc.reset_peak()
        run()
        _, peak = tracemalloc.get_traced_memory()
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        contender.close()
        return {
            "py_load_bytes": loaded - base,
            "py_contexts_bytes": with_contexts - loaded,
            "py_eval_peak_bytes": peak - with_contexts,
            "py_eval_retained_bytes": retained - with_contexts,
        }
    rss0 = _status_kib("VmRSS")
    start = time.perf_counter()
    contender.load()
    load_s = time.perf_counter() - start
    gc.collect()
    rss_loaded = _status_kib("VmRSS")
    contexts = contender.contexts(users)
    gc.collect()
    rss_contexts = _status_kib("VmRSS")
    run = contender.make_pass(contexts)
    resettable = _reset_peak_rss()
    run()
    gc.collect()
    rss_after = _status_kib("VmRSS")
    peak = _status_kib("VmHWM")
    contender.close()
    return {
        "load_s": load_s,
        "rss_load_kib": rss_loaded - rss0,
        "rss_contexts_kib": rss_contexts - rss_loaded,
        "rss_eval_growth_kib": rss_after - rss_contexts,
        "rss_eval_peak_kib": (peak - rss_contexts) if resettable else None,
    }


def memory_in_child(name: str, users: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for mode in ("rss", "tracemalloc"):
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--memory-of",
                name,
                "--memory-mode",
                mode,
                "--users",
                str(users),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            figures[f"{mode}_error"] = done.stderr.strip().splitlines()[-1:]
            continue
        figures.update(json.loads(done.stdout.strip().splitlines()[-1]))
    return figures


# -- checks ---------------------------------------------------------------------------------


def shares(answers: list[bool], users: list[User]) -> dict[str, float]:
    inside = [a for a, (_, country) in zip(answers, users, strict=True) if country in ON_COUNTRIES]
    outside = [a for a, (_, c) in zip(answers, users, strict=True) if c not in ON_COUNTRIES]
    return {
        "on_nl_de": sum(inside) / len(inside) if inside else 0.0,
        "on_elsewhere": sum(outside) / len(outside) if outside else 0.0,
        "users_nl_de": len(inside),
        "users_elsewhere": len(outside),
    }


def agreement(a: list[bool], b: list[bool], users: list[User]) -> dict[str, int]:
    same = [x == y for x, y in zip(a, b, strict=True)]
    inside = [s for s, (_, country) in zip(same, users, strict=True) if country in ON_COUNTRIES]
    return {
        "agree": sum(same),
        "of": len(same),
        "agree_nl_de": sum(inside),
        "of_nl_de": len(inside),
    }


# -- the report -----------------------------------------------------------------------------


def fmt_us(ns: float | None) -> str:
    if ns is None:
        return "-"
    us = ns / 1000
    return f"{us:.3f} µs" if us < 1 else f"{us:.2f} µs" if us < 10 else f"{us:.1f} µs"


def fmt_kib(kib: Any) -> str:
    if kib is None:
        return "-"
    return f"{kib / 1024:.1f} MiB" if abs(kib) >= 1024 else f"{kib} KiB"


def fmt_bytes(value: Any) -> str:
    if value is None:
        return "-"
    return fmt_kib(round(value / 1024))


def headline(entries: dict[str, Entry]) -> Entry | None:
    """The SDK once it exists, the engine until then."""
    for name in ("andon-client", "andon"):
        entry = entries.get(name)
        if entry is not None and entry.available and entry.samples_ns:
            return entry
    return None


def ratio_of(
    andon: Entry, competitors: list[Entry], summaries: dict[str, Summary]
) -> dict[str, Any]:
    """How many times faster ``andon`` is than the fastest competitor: at the medians, and
    per round (the fastest competitor of a round over Andon in that round)."""
    fastest = min(competitors, key=lambda e: summaries[e.name].median)
    per_round = [
        min(e.samples_ns[i] for e in competitors) / andon.samples_ns[i]
        for i in range(len(andon.samples_ns))
    ]
    ratio: dict[str, Any] = {
        "andon": andon.name,
        "fastest_competitor": fastest.name,
        "competitors": [e.name for e in competitors],
        "median": summaries[fastest.name].median / summaries[andon.name].median,
        "per_round": per_round,
        "p10": percentile(per_round, 0.1),
        "goal_min": GOAL_RATIO,
    }
    every = [n for n, kind in CONTENDERS.items() if kind.role == "competitor"]
    if len(competitors) < len(every):
        ratio["verdict"] = "no verdict: not every competitor ran"
    elif ratio["p10"] >= GOAL_RATIO:
        ratio["verdict"] = "met"
    elif ratio["median"] >= GOAL_RATIO:
        ratio["verdict"] = "met at median, not in the worst decile of rounds"
    else:
        ratio["verdict"] = "NOT MET"
    return ratio


def _sources_hash() -> str:
    """A digest of src/andon/flags/ as measured (it changed while this was written)."""
    digest = hashlib.sha256()
    for path in sorted((HERE.parents[1] / "src" / "andon" / "flags").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def build_report(
    entries: list[Entry], users: list[User], machine: dict[str, Any], rounds: int
) -> dict[str, Any]:
    by_name = {entry.name: entry for entry in entries}
    ready = [entry for entry in entries if entry.available and entry.samples_ns]
    summaries: dict[str, Summary] = {entry.name: summarize(entry.samples_ns) for entry in ready}
    competitors = [e for e in ready if e.contender.role == "competitor"]
    andon = headline(by_name)
    ratios = {
        e.name: ratio_of(e, competitors, summaries)
        for e in ready
        if e.contender.role == "andon" and competitors
    }
    rows = []
    for entry in entries:
        row: dict[str, Any] = {
            "name": entry.name,
            "label": entry.contender.label,
            "role": entry.contender.role,
            "version": entry.contender.version(),
            "note": entry.contender.note,
        }
        if not entry.available:
            row["skipped"] = entry.skipped
            rows.append(row)
            continue
        summary = summaries.get(entry.name)
        row.update(
            {
                # In the shared process: modules already imported by another contender are free.
                "load_ms_shared_process": entry.load_s * 1000,
                "first_pass_ns": entry.first_pass_ns,
                "ns_per_eval": summary.to_dict() if summary else None,
                "shares": shares(entry.answers, users)
                if entry.name not in ("empty", "openfeature-noop")
                else None,
                "memory": entry.memory,
                "extra": entry.extra,
                "issue_us": ISSUE_FIGURES_US.get(entry.name),
            }
        )
        if summary and andon is not None and entry is not andon:
            row["times_andon"] = summary.median / summaries[andon.name].median
        if entry.contender.role == "andon" and summary:
            row["headline"] = entry is andon
            row["goal_max_ns"] = GOAL_NS
            row["verdict"] = (
                "met"
                if summary.p90 <= GOAL_NS
                else "met at median, not at p90"
                if summary.median <= GOAL_NS
                else "NOT MET"
            )
            row["ratio"] = ratios.get(entry.name)
        rows.append(row)
    checks: dict[str, Any] = {}
    pairs = [
        ("andon", "flagd"),
        ("andon-client", "flagd"),
        ("andon", "hand"),
        ("andon-client", "andon"),
        ("andon-client-exposures", "andon"),
        ("andon-openfeature", "andon"),
    ]
    for left, right in pairs:
        a, b = by_name.get(left), by_name.get(right)
        if a and b and a.available and b.available:
            checks[f"{left} vs {right}"] = agreement(a.answers, b.answers, users)
    machine = dict(machine, load_after=load_average())
    return {
        "benchmark": "flags local evaluation",
        "flag": f"{FLAG_KEY}: on for 50% of users, sticky on the user id, only where country "
        "is NL or DE",
        "machine": machine,
        "settings": {"users": len(users), "rounds": rounds, "flags_sources": _sources_hash()},
        "flagd_fractional": Flagd.fractional(),
        "headline": andon.name if andon else None,
        "rows": rows,
        "ratio": ratios.get(andon.name) if andon else None,
        "agreement": checks,
    }


def render(report: dict[str, Any]) -> str:
    machine, settings = report["machine"], report["settings"]
    loads = lambda values: "/".join(f"{v:.2f}" for v in values) or "unknown"  # noqa: E731
    lines = [
        f"Andon flag SDK local evaluation, {machine['date']}, andon {machine['code']}",
        f"machine: {machine['cpus']} x {machine['cpu_model']} ({machine['arch']}), "
        f"{machine['system']}, Python {machine['python']}",
        f"run: {settings['users']:,} distinct users, {settings['rounds']} rounds after a first "
        f"pass; load average {loads(machine['load_before'])} before, "
        f"{loads(machine['load_after'])} after",
        f"flag: {report['flag']}",
        "",
    ]
    header = (
        f"{'contender':<52} {'median':>10} {'p90':>10} {'first pass':>10} {'x Andon':>8} "
        f"{'load':>7} "
        f"{'on NL/DE':>8} {'elsewhere':>9} {'RSS load':>9} {'RSS eval':>9} {'heap load':>9} "
        f"{'heap eval':>9}  version"
    )
    lines.append(header)
    for row in report["rows"]:
        if "skipped" in row:
            lines.append(f"{row['label']:<52} skipped: {row['skipped']}")
            continue
        ns = row["ns_per_eval"] or {}
        share = row["shares"] or {}
        memory = row["memory"] or {}
        times = f"{row['times_andon']:.1f}x" if "times_andon" in row else ""
        fresh = memory.get("load_s")
        load = f"{fresh * 1000:.0f} ms" if fresh is not None else "-"
        on_in = f"{share['on_nl_de']:.1%}" if share else ""
        on_out = f"{share['on_elsewhere']:.1%}" if share else ""
        lines.append(
            f"{row['label']:<52} {fmt_us(ns.get('median')):>10} {fmt_us(ns.get('p90')):>10} "
            f"{fmt_us(row['first_pass_ns']):>10} {times:>8} {load:>7} {on_in:>8} {on_out:>9} "
            f"{fmt_kib(memory.get('rss_load_kib')):>9} "
            f"{fmt_kib(memory.get('rss_eval_growth_kib')):>9} "
            f"{fmt_bytes(memory.get('py_load_bytes')):>9} "
            f"{fmt_bytes(memory.get('py_eval_peak_bytes')):>9}  {row['version']}"
        )
    lines.append("")
    andon_rows = sorted(
        (r for r in report["rows"] if "verdict" in r), key=lambda r: not r.get("headline")
    )
    for row in andon_rows:
        ns, ratio = row["ns_per_eval"], row.get("ratio")
        lines.append(
            f"{'HEADLINE ' if row.get('headline') else ''}{row['label']}: "
            f"goal <= 1 µs: median {fmt_us(ns['median'])}, p90 {fmt_us(ns['p90'])}: "
            f"{row['verdict']}"
        )
        if ratio:
            lines.append(
                f"    goal >= {GOAL_RATIO:.0f}x the fastest competitor "
                f"({ratio['fastest_competitor']} of {', '.join(ratio['competitors'])}): "
                f"{ratio['median']:.2f}x at the medians, {ratio['p10']:.2f}x in the worst "
                f"decile of rounds: {ratio['verdict']}"
            )
    for row in report["rows"]:
        for what, value in (row.get("extra") or {}).items():
            lines.append(
                f"{row['label']}: {what.replace('_', ' ')} {value:,}"
                if isinstance(value, int)
                else f"{row['label']}: {what.replace('_', ' ')} {value}"
            )
    for name, check in report["agreement"].items():
        lines.append(
            f"agreement {name}: {check['agree']:,} of {check['of']:,} users "
            f"({check['agree_nl_de']:,} of {check['of_nl_de']:,} in NL/DE)"
        )
    lines.append(f"flagd's fractional here: {report['flagd_fractional']}; Andon's: v2")
    lines.append(
        "load: import + flags loaded, in a fresh process; memory: RSS and Python heap "
        "(tracemalloc) in a fresh process per contender, 'load' = import + flags loaded, "
        "'eval' = RSS growth / heap peak while evaluating every user once (contexts excluded)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument(
        "--slices", type=int, default=SLICES, help="slices of users interleaved per round"
    )
    parser.add_argument("--only", help="comma-separated contenders: " + ",".join(CONTENDERS))
    parser.add_argument("--no-memory", action="store_true", help="skip the memory processes")
    parser.add_argument("--json", action="store_true", help="print the JSON, not the table")
    parser.add_argument("--save", help="where to write the JSON (default: a file under /tmp)")
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)
    parser.add_argument("--memory-mode", choices=("rss", "tracemalloc"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.memory_of:
        print(json.dumps(measure_memory(args.memory_of, args.users, args.memory_mode)))
        return 0

    names = list(CONTENDERS)
    if args.only:
        wanted = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = [name for name in wanted if name not in CONTENDERS]
        if unknown:
            parser.error(f"unknown contenders {unknown}; known: {', '.join(CONTENDERS)}")
        names = [name for name in names if name in wanted]
    # The SDK warns of every exposure batch it drops while its server is unreachable
    # (andon-client-exposures): counted in the table instead.
    logging.getLogger("andon.flags.client").setLevel(logging.ERROR)
    machine = describe_machine()
    log(
        f"flags benchmark: {args.users:,} users, {args.rounds} rounds, "
        f"load {machine['load_before']}"
    )
    users = make_users(args.users)
    entries = [Entry(CONTENDERS[name]()) for name in names]
    started = time.monotonic()
    for entry in entries:
        prepare(entry, users)
    # The contexts are the benchmark's data, millions of objects a service would not hold:
    # frozen, so that the collections an SDK's allocations trigger do not scan them.
    gc.collect()
    gc.freeze()
    round_loads = run_rounds(entries, args.rounds, len(users), args.slices)
    for entry in entries:
        if entry.available:
            entry.extra = entry.contender.extra()
            entry.contender.close()
            entry.contexts = []
    if not args.no_memory:
        log("memory, a fresh process per contender")
        for entry in entries:
            if entry.available:
                entry.memory = memory_in_child(entry.name, args.users)
                log(f"  {entry.name}: {entry.memory}")
    report = build_report(entries, users, machine, args.rounds)
    report["settings"]["seconds"] = round(time.monotonic() - started, 1)
    report["settings"]["slices"] = args.slices
    report["machine"]["load_per_round"] = round_loads
    save = Path(
        args.save
        or f"/tmp/andon-bench-flags/eval-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    )
    save.parent.mkdir(parents=True, exist_ok=True)
    save.write_text(json.dumps(report, indent=2) + "\n")
    log(f"saved {save}")
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
