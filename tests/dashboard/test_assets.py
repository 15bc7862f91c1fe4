"""The dashboard's static files: the vendored scripts are the versions VENDORED.md names,
byte for byte; the stylesheet's colours keep WCAG AA contrast; the templates and static
files are package data (in the wheel); every chart says in words what it draws."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from andon.server.dashboard import assets, svg

STATIC = assets.STATIC
CSS = (STATIC / "dashboard.css").read_text()


def colour(name: str) -> str:
    found = re.search(rf"--{name}: (#[0-9a-f]{{6}});", CSS)
    assert found is not None, name
    return found.group(1)


def luminance(hex_colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(one: str, two: str) -> float:
    light, dark = sorted((luminance(one), luminance(two)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize(
    ("text", "background"),
    [
        ("ink", "paper"),
        ("ink", "panel"),
        ("muted", "paper"),
        ("muted", "panel"),
        ("link", "paper"),
        ("running", "running-bg"),
        ("warn", "warn-bg"),
        ("stable", "paper"),
        ("canary", "paper"),
        ("#ffffff", "stopped"),
        ("#ffffff", "stable"),
        ("#ffffff", "canary"),
    ],
)
def test_text_colours_keep_aa_contrast(text: str, background: str) -> None:
    def value(name: str) -> str:
        return name if name.startswith("#") else colour(name)

    assert contrast(value(text), value(background)) >= 4.5


def test_the_focus_outline_stands_out_from_the_page() -> None:
    assert contrast(colour("focus"), colour("paper")) >= 3.0
    assert ":focus-visible { outline: 3px solid var(--focus)" in CSS


def test_the_vendored_scripts_are_the_versions_vendored_md_names() -> None:
    vendored = (STATIC / "VENDORED.md").read_text()
    for name in ("htmx.min.js", "htmx-ext-sse.min.js"):
        digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()
        assert f"`{name}`" in vendored and digest in vendored, name
    assert f'version:"{assets.HTMX_VERSION}"' in (STATIC / "htmx.min.js").read_text()
    assert f"| {assets.HTMX_VERSION} |" in vendored
    assert f"| {assets.HTMX_SSE_VERSION} |" in vendored


def test_templates_and_static_files_are_package_data() -> None:
    package = Path(assets.__file__).parent
    assert (package / "templates" / "base.html").is_file()
    for name in assets.FILES:
        assert (package / "static" / name).is_file(), name
    # hatch packages src/andon whole; nothing excludes the dashboard's files.
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert 'packages = ["src/andon"]' in pyproject
    assert "exclude" not in pyproject.split("[tool.hatch.build", 1)[1].split("\n[tool.p", 1)[0]


def test_charts_say_what_they_draw_and_escape_their_labels() -> None:
    chart = svg.bar_chart("errors <b>", [svg.Bar("canary <i>", 2.0, "2%", "canary")])
    assert chart.startswith('<svg xmlns="http://www.w3.org/2000/svg" role="img"')
    assert "<title>errors &lt;b&gt;</title>" in chart
    assert "canary &lt;i&gt;" in chart and "<i>" not in chart
    metric = {
        "metric": "errors",
        "versions": {
            "canary": {"error_rate": 0.041, "latency_p95": 0.25},
            "stable": {"error_rate": 0.002, "latency_p95": 0.2},
        },
    }
    (rates, rate_chart), (latency, latency_chart) = svg.metric_charts(metric)
    assert (rates, latency) == ("error rate", "p95 latency")
    assert "<title>errors: error rate, stable 0.20%, canary 4.10%</title>" in rate_chart
    assert "<title>errors: p95 latency, stable 200 ms, canary 250 ms</title>" in latency_chart
    assert svg.flow_bar(0, 0) == ""
    assert "working 30s, waiting 10s" in svg.flow_bar(30, 10)
    assert [svg.duration(s) for s in (None, 4.25, 45, 185, 7300, 200_000)] == [
        "—", "4.2s", "45s", "3m 05s", "2h 01m", "2d 7h"
    ]  # fmt: skip
