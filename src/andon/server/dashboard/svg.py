"""Small charts drawn on the server as SVG, so that the dashboard needs no chart library
and a page reads the same without JavaScript: canary beside stable for each metric of a
rollout's analysis, a traffic split, experiment variants, and the working/waiting split
of a value-stream stage (one commit's, or every stage's over a window).

Every chart is an ``<svg role="img">`` with a ``<title>`` that says in words what it
draws; pages show the figures as text beside it too. Colours come from classes of
``dashboard.css`` (presentation attributes only: the pages' Content-Security-Policy
allows no inline style). Each function returns Markup that the templates insert as is;
every label in it is escaped here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

_ROLES = ("stable", "baseline", "canary")


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its label, value (drawn to scale), the text shown at its end, and the
    CSS class that colours it."""

    label: str
    value: float
    text: str
    kind: str = "stable"


def bar_chart(title: str, bars: Sequence[Bar], *, width: int = 320) -> Markup:
    """Horizontal bars on one scale, labelled on the left and valued on the right."""
    row, label_width, text_width = 22, 90, 110
    room = max(width - label_width - text_width, 20)
    top = max((bar.value for bar in bars), default=0.0) or 1.0
    height = row * max(len(bars), 1) + 4
    parts = [_open(title, width, height)]
    for index, bar in enumerate(bars):
        y = 2 + index * row
        length = 0.0 if bar.value <= 0 else max(2.0, room * bar.value / top)
        parts.append(
            f'<text x="0" y="{y + 15}" class="chart-label">{escape(bar.label)}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="14" '
            f'class="bar bar-{escape(bar.kind)}"/>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + 15}" class="chart-value">'
            f"{escape(bar.text)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def metric_charts(metric: Mapping[str, Any]) -> list[tuple[str, Markup]]:
    """Canary beside stable (or the old version's baseline) for one metric row of
    ``summarize_run``: its error rate and its p95 latency where measured, each with its
    caption."""
    versions: Mapping[str, Any] = metric.get("versions") or {}
    name = str(metric.get("metric", "metric"))
    charts = []
    rates = [
        Bar(role, 100.0 * figures["error_rate"], _percent(figures["error_rate"]), role)
        for role, figures in _measured(versions, "error_rate")
    ]
    if rates:
        charts.append(("error rate", bar_chart(f"{name}: error rate, {_said(rates)}", rates)))
    latencies = [
        Bar(role, figures["latency_p95"], _seconds(figures["latency_p95"]), role)
        for role, figures in _measured(versions, "latency_p95")
    ]
    if latencies:
        title = f"{name}: p95 latency, {_said(latencies)}"
        charts.append(("p95 latency", bar_chart(title, latencies)))
    return charts


def _measured(versions: Mapping[str, Any], figure: str) -> list[tuple[str, Mapping[str, Any]]]:
    """(role, figures) of the versions that have ``figure``, stable (or baseline) first."""
    return [
        (role, versions[role])
        for role in _ROLES
        if role in versions and versions[role].get(figure) is not None
    ]


def traffic_chart(weights: Mapping[str, float], canary: str | None) -> Markup:
    """The traffic split as one stacked bar, the canary's share in its colour."""
    width, height = 320, 34
    total = sum(weights.values()) or 1.0
    said = ", ".join(f"{version[:12]} {share:g}%" for version, share in weights.items())
    parts = [_open(f"traffic: {said or 'none'}", width, height)]
    x = 0.0
    for version, share in weights.items():
        length = width * share / total
        kind = "canary" if version == canary else "stable"
        parts.append(
            f'<rect x="{x:.1f}" y="2" width="{length:.1f}" height="18" class="bar bar-{kind}"/>'
        )
        if length > 60:
            parts.append(
                f'<text x="{x + 4:.1f}" y="15" class="chart-inverse">'
                f"{escape(version[:7])} {share:g}%</text>"
            )
        x += length
    parts.append("</svg>")
    return Markup("".join(parts))


def variant_chart(variants: Sequence[Mapping[str, Any]], control: str) -> Markup:
    """Conversion rate per variant of an experiment (the control in the stable colour)."""
    bars = [
        Bar(
            str(variant["name"]),
            100.0 * (variant.get("rate") or 0.0),
            f"{_percent(variant.get('rate'))} of {variant.get('exposures', 0)}",
            "stable" if variant["name"] == control else "canary",
        )
        for variant in variants
    ]
    return bar_chart(f"conversion rate by variant: {_said(bars)}", bars)


def flow_bar(working: float | None, waiting: float | None, *, width: int = 96) -> Markup:
    """A stage's time as one bar: working solid, waiting striped after it."""
    work, wait = working or 0.0, waiting or 0.0
    total = work + wait
    if total <= 0:
        return Markup("")
    title = f"working {duration(work)}, waiting {duration(wait)}"
    worked = width * work / total
    return Markup(
        f'{_open(title, width, 8)}<rect x="0" y="0" width="{worked:.1f}" height="8" '
        f'class="bar bar-working"/><rect x="{worked:.1f}" y="0" '
        f'width="{width - worked:.1f}" height="8" class="bar bar-waiting"/></svg>'
    )


def flow_chart(stages: Sequence[tuple[str, float, float]], *, width: int = 520) -> Markup:
    """Each stage's (name, process, wait) seconds as one horizontal bar, process solid
    then wait in grey, all on one scale, so that where the time goes stands out."""
    row, label_width, text_width = 22, 90, 170
    room = max(width - label_width - text_width, 20)
    top = max((process + wait for _, process, wait in stages), default=0.0) or 1.0
    said = "; ".join(
        f"{name} process {duration(process)}, wait {duration(wait)}"
        for name, process, wait in stages
    )
    parts = [_open(f"time per stage: {said or 'none'}", width, row * max(len(stages), 1) + 4)]
    for index, (name, process, wait) in enumerate(stages):
        y = 2 + index * row
        worked, waited = room * process / top, room * wait / top
        parts.append(
            f'<text x="0" y="{y + 15}" class="chart-label">{escape(name)}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{worked:.1f}" height="14" '
            f'class="bar bar-working"/>'
            f'<rect x="{label_width + worked:.1f}" y="{y + 3}" width="{waited:.1f}" '
            f'height="14" class="bar bar-waiting"/>'
            f'<text x="{label_width + worked + waited + 6:.1f}" y="{y + 15}" '
            f'class="chart-value">{_split(process, wait)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _split(process: float, wait: float) -> str:
    return f"{duration(process)} + {duration(wait)}" if process + wait > 0 else "—"


def duration(seconds: float | None) -> str:
    """``45s``, ``3m 05s``, ``2h 10m``, ``3d 4h``; ``—`` for None."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def _open(title: str, width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}"><title>{escape(title)}</title>'
    )


def _said(bars: Sequence[Bar]) -> str:
    return ", ".join(f"{bar.label} {bar.text}" for bar in bars)


def _percent(rate: float | None) -> str:
    if rate is None:
        return "—"
    share = 100.0 * rate
    return f"{share:.2f}%" if share < 10 else f"{share:.1f}%"


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
