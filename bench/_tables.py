"""The benchmarks' JSON reports as Markdown tables, the anchors beside the figures, as
bench/README.md shows them. Pure functions of the reports; ``python -m bench`` calls them.

Three benchmarks (pipeline, environments, rollout) report ``figures``, one row each with
its median and p90 (or one value), unit, goal and note: one renderer serves them all. The
others have shapes of their own, each with its renderer below.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Report = Mapping[str, Any]

TIMES = "\u00d7"
"""The multiplication sign of ratios, as in 1.47 times."""
NONE = "\u2013"
"""What a cell with no figure shows."""

_UNITS: dict[str, Callable[[float], str]] = {
    "s": lambda seconds: f"{seconds:.2f} s",
    "ms": lambda seconds: f"{seconds * 1000:.1f} ms",
    "x": lambda ratio: f"{ratio:.2f}{TIMES}",
    "%": lambda fraction: f"{fraction * 100:.2f}%",
    "n": lambda count: f"{count:g}",
}


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, right: int = 0) -> str:
    """A Markdown table; the ``right`` columns after the first are right-aligned."""
    align = ["---", *["---:"] * right, *["---"] * (len(header) - 1 - right)]
    lines = [_line(header), _line(align)]
    lines += [_line(row) for row in rows]
    return "\n".join(lines)


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


def show(value: float | str, unit: str) -> str:
    """A figure in its unit: seconds, milliseconds (stored as seconds), a ratio, a share
    (stored as a fraction), a count, or text as it is."""
    if isinstance(value, str):
        return value
    return _UNITS.get(unit, str)(value)


def figures_table(figures: Mapping[str, Mapping[str, Any]]) -> str:
    """``figures`` of the pipeline, environments and rollout reports: median and p90 (or
    the one value), the goal or the anchor it is read against, and the verdict."""
    rows = []
    for figure in figures.values():
        unit = figure.get("unit", "")
        if "median" in figure:
            median, p90 = show(figure["median"], unit), show(figure["p90"], unit)
        else:
            median, p90 = show(figure.get("value", NONE), unit), ""
        note = figure.get("note", "")
        goal = figure.get("goal_max")
        against = f"goal ≤ {show(goal, unit)}" if goal is not None else note
        verdict = figure.get("verdict", "")
        if verdict and verdict != "met":
            verdict = f"**{verdict}**"
        if goal is not None and note:
            verdict = f"{verdict}, {note}" if verdict else note
        rows.append([figure["label"], median, p90, against, verdict])
    return table(["figure", "median", "p90", "goal or anchor", "verdict"], rows, right=2)


_ROUTER_TARGETS = (
    ("upstream", "upstream (anchor)"),
    ("nginx", "nginx"),
    ("haproxy", "HAProxy"),
    ("andon", "Andon"),
)


def router_table(reports: Sequence[Report]) -> str:
    """One row per run of bench/router/run.py (one per worker count): each target's
    median req/s and p99, and Andon's ratios to nginx with their verdicts."""
    header = ["workers", "rounds"] + [f"{name} req/s · p99" for _, name in _ROUTER_TARGETS]
    header += ["Andon/nginx req/s", "Andon/nginx p99", "errors"]
    rows = []
    for report in reports:
        summary, verdicts = report["summary"], report["verdicts"]
        row = [str(report["workers"]), f"{report['rounds']} {TIMES} {report['duration']} s"]
        for key, _ in _ROUTER_TARGETS:
            figures = summary[key]
            row.append(f"{figures['requests_per_second']:,.0f} · {figures['p99_ms']:.2f} ms")
        row += [
            _ratio(verdicts["throughput_ratio"], verdicts["throughput_met"]),
            _ratio(verdicts["p99_ratio"], verdicts["p99_met"]),
            str(sum(figures["errors"] for figures in summary.values())),
        ]
        rows.append(row)
    return table(header, rows)


def _ratio(ratio: float, met: bool) -> str:
    return f"**{ratio:.2f} ({'met' if met else 'not met'})**"


def weights_table(report: Report) -> str:
    """bench/router/weights.py: per worker count, variant and number of changes, counts
    summed and rates, p99s and shares as medians over the rounds; then the verdict."""
    groups: dict[tuple[int, str, int], list[Mapping[str, Any]]] = {}
    # As weights.py prints them: kept-alive connections first, the anchor before the changes.
    order = {"keepalive": 0, "close": 1}
    for run in sorted(
        report["runs"], key=lambda r: (r["workers"], order.get(r["variant"], 2), r["changes"])
    ):
        groups.setdefault((run["workers"], run["variant"], run["changes"]), []).append(run)
    rows = []
    for (workers, variant, changes), runs in groups.items():
        shares = " / ".join(
            f"{statistics.median(run['v2_share'][weight] for run in runs) * 100:.2f}"
            if weight in runs[0]["v2_share"]
            else NONE
            for weight in ("0", "10", "50", "100")
        )
        applied = [ms for run in runs for ms in run["apply_ms"]]
        stray = [count for run in runs for count in run["stray"]]
        rows.append(
            [
                str(workers),
                variant,
                f"{changes} (anchor)" if changes == 0 else str(changes),
                f"{sum(run['requests'] for run in runs):,}",
                f"{statistics.median(run['requests_per_second'] for run in runs):,.0f}",
                f"{statistics.median(run['p99_ms'] for run in runs):.2f} ms",
                str(sum(run["non_2xx"] for run in runs)),
                str(sum(run["socket_errors"] for run in runs)),
                str(sum(run["router_errors"] for run in runs)),
                shares,
                str(max(stray)) if stray else "",
                f"{statistics.median(applied):.2f} / {max(applied):.2f} ms" if applied else "",
            ]
        )
    header = ["workers", "connections", "changes", "requests", "req/s", "p99", "non-2xx"]
    header += ["socket errors", "router 5xx + refused", "v2 share at v2 weight 0 / 10 / 50 / 100 %"]
    header += ["stray max", "apply median / max"]
    changing = [run for run in report["runs"] if run["changes"]]
    clean = sum(1 for run in changing if run["clean"])
    replaced = sum(1 for run in report["runs"] if run["workers_replaced"])
    verdict = "met" if report["met"] and changing else "NOT MET"
    died = f"a worker was replaced in {replaced} run(s)" if replaced else "no worker died"
    return (
        table(header, rows, right=0)
        + f"\n\nVerdict: **{verdict}**, {clean} of {len(changing)} changing runs clean; {died}."
    )


def flags_table(report: Report, flagd_v2: Report | None = None) -> str:
    """bench/flags/eval.py: each contender's time per evaluation beside Andon's SDK, the
    goals, and the answers' agreement (with flagd v2's, when that check ran)."""
    rows = []
    for row in report["rows"]:
        # The SDKs' versions matter; Andon's is this checkout's, and anchors have none.
        versioned = row["role"] in ("competitor", "engine") and row["version"]
        label = f"{row['label']}, {row['version']}" if versioned else row["label"]
        if "skipped" in row:
            rows.append([label, "", "", "", f"skipped: {row['skipped']}"])
            continue
        timing = row.get("ns_per_eval") or {}
        shares = row.get("shares") or {}
        on = (
            f"{shares['on_nl_de']:.1%} · {shares['on_elsewhere']:.0%}"
            if "on_nl_de" in shares
            else ""
        )
        times = _times(row["times_andon"]) if "times_andon" in row else "1"
        if row.get("headline"):
            label = f"**{label}**"
        median = _microseconds(timing["median"]) if timing else ""
        p90 = _microseconds(timing["p90"]) if timing else ""
        rows.append([label, median, p90, times, on])
    header = ["contender", "median", "p90", "vs Andon SDK", "on NL/DE · elsewhere"]
    parts = [table(header, rows, right=3)]
    parts.append(_flag_goals(report))
    parts.append(_agreement("Answers compared", report["agreement"]))
    if flagd_v2 is not None:
        parts.append(_agreement("With flagd v2 (the second venv)", flagd_v2["agreement"]))
    return "\n\n".join(part for part in parts if part)


def _flag_goals(report: Report) -> str:
    """The issue's goals: at most 1 µs per evaluation, and at least 7 times the fastest
    competitor, for the headline SDK; the other Andon rows held to the same."""
    rows = []
    for row in report["rows"]:
        timing, ratio = row.get("ns_per_eval"), row.get("ratio")
        if row.get("role") != "andon" or not timing:
            continue
        per_evaluation = (
            f"median {_microseconds(timing['median'])}, p90 {_microseconds(timing['p90'])}"
        )
        if row.get("headline"):
            goal = f"≤ {row['goal_max_ns'] / 1000:g} µs per evaluation, {row['label']}"
            rows.append([goal, per_evaluation, f"**{row['verdict']}**"])
        if not ratio:
            continue
        ratios = (
            f"{ratio['median']:.2f}{TIMES} at the medians, {ratio['p10']:.2f}{TIMES} in the "
            "worst decile"
        )
        goal = (
            f"≥ {ratio['goal_min']:g}{TIMES} the fastest competitor ({ratio['fastest_competitor']})"
        )
        if row.get("headline"):
            rows.append([goal, ratios, f"**{ratio['verdict']}**"])
        else:
            met = row["verdict"] == "met" and ratio["verdict"] == "met"
            rows.append(
                [
                    f"both, {row['label']}",
                    f"{per_evaluation}; {ratios}",
                    "met" if met else "not met",
                ]
            )
    return table(["goal", "figure", "verdict"], rows) if rows else ""


def _agreement(title: str, checks: Mapping[str, Mapping[str, int]]) -> str:
    said = [
        f"{pair}: {check['agree']:,} of {check['of']:,} users "
        f"({check['agree_nl_de']:,} of {check['of_nl_de']:,} in NL/DE)"
        for pair, check in checks.items()
    ]
    return f"{title} user by user: " + "; ".join(said) + "." if said else ""


def _times(ratio: float) -> str:
    return f"{ratio:.1f}{TIMES}" if ratio >= 1 else f"{ratio:.2f}{TIMES}"


def _microseconds(nanoseconds: float) -> str:
    """Three significant figures, zeros kept: 0.643 µs, 6.70 µs, 12.4 µs."""
    value = nanoseconds / 1000
    places = 3 if value < 1 else 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:.{places}f} µs"


def propagation_table(result: Report) -> str:
    """bench/flags/propagation.py: how long after a kill each SDK client served it."""
    met = result["p99_ms"] <= 100
    row = [
        str(result["clients"]),
        f"{result['changes_seen']} of {result['changes_expected']}",
        *(f"{result[key]:.0f} ms" for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms")),
        f"p99 ≤ 100 ms: **{'met' if met else 'not met'}**",
    ]
    header = ["clients", "changes seen", "p50", "p90", "p99", "max", "goal"]
    return table(header, [row], right=5)


def ofrep_table(result: Report) -> str:
    """bench/flags/ofrep.py: OFREP evaluations per second beside the health route."""
    rows = []
    for key, name in (
        ("ofrep", "OFREP single evaluation"),
        ("health", "`/api/v1/health` (anchor)"),
    ):
        figures = result["median"][key]
        rows.append(
            [
                name,
                f"{figures['rps']:,.0f}",
                f"{figures['p50_ms']:.0f} ms",
                f"{figures['p99_ms']:.0f} ms",
                f"{figures['non_2xx']:.0f}",
            ]
        )
    checked = (
        f"{result['answers_agreeing']} of {result['answers_checked']} answers checked agreed "
        "with the evaluator."
    )
    return table(["endpoint", "req/s", "p50", "p99", "non-2xx"], rows, right=4) + "\n\n" + checked


def rollout_whole_run(report: Report) -> str:
    """The sentence under the rollout table: the load over the whole run."""
    whole = report["whole_run"]
    return (
        f"Over the whole run the load sent {whole['requests']:,} requests, of which "
        f"{whole['failed']:,} failed ({whole['failed_share']:.3%}); arrivals skipped: "
        f"{whole['skipped_arrivals']}; lowest stock at the end: {whole['lowest_stock_at_end']:,}."
    )
