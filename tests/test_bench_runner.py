"""``python -m bench``: the results parts of bench/README.md are rewritten between their
markers and nowhere else, and every benchmark has its part.

bench/ is not an installed package: it is imported from the repository's root, put on the
path for these tests only."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]

OLD = """# Benchmarks

Prose before.

<!-- bench:pipeline:begin -->

| figure | median |
|---|---:|
| old | 1 s |

<!-- bench:pipeline:end -->

Prose between, kept.

<!-- bench:router:begin -->

router's old table

<!-- bench:router:end -->
"""


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module("bench")


@pytest.fixture
def readme(bench: ModuleType) -> ModuleType:
    return importlib.import_module("bench._readme")


def test_a_rewrite_replaces_only_what_lies_between_the_markers(readme: ModuleType) -> None:
    new = readme.replace_sections(OLD, {"pipeline": "\n**today**\n\n| new | 2 s |\n"})
    assert new == OLD.replace(
        "| figure | median |\n|---|---:|\n| old | 1 s |", "**today**\n\n| new | 2 s |"
    )


def test_a_section_not_given_is_left_as_it_was(readme: ModuleType) -> None:
    new = readme.replace_sections(OLD, {"router": "router's new table"})
    begin = "<!-- bench:router:begin -->"
    assert new.partition(begin)[0] == OLD.partition(begin)[0]
    assert "router's new table" in new and "router's old table" not in new


def test_rewriting_a_section_with_its_own_text_changes_nothing(readme: ModuleType) -> None:
    bodies = {
        "pipeline": "| figure | median |\n|---|---:|\n| old | 1 s |",
        "router": "router's old table",
    }
    assert readme.replace_sections(OLD, bodies) == OLD


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("<!-- bench:pipeline:begin -->\nno end\n", "add '<!-- bench:pipeline:end -->'"),
        ("text\n<!-- bench:pipeline:end -->\n", "add '<!-- bench:pipeline:begin -->'"),
        (OLD + OLD, "line 24: section 'pipeline' is marked twice"),
        (
            "<!-- bench:a:begin -->\n<!-- bench:b:begin -->\n<!-- bench:b:end -->\n",
            "line 2: section 'b' begins inside 'a'",
        ),
    ],
    ids=["no end", "no begin", "twice", "nested"],
)
def test_markers_that_do_not_pair_up_are_an_error_saying_what_to_do(
    readme: ModuleType, text: str, said: str
) -> None:
    with pytest.raises(readme.MarkerError) as caught:
        readme.replace_sections(text, {})
    assert said in str(caught.value)


def test_a_benchmark_without_its_section_is_an_error_naming_the_markers(readme: ModuleType) -> None:
    with pytest.raises(readme.MarkerError, match="add <!-- bench:rollout:begin -->"):
        readme.replace_sections(OLD, {"rollout": "figures"})


def test_every_benchmark_has_its_section_in_the_readme(
    bench: ModuleType, readme: ModuleType
) -> None:
    suites = importlib.import_module("bench._suites")
    text = (ROOT / "bench" / "README.md").read_text("utf-8")
    names = [benchmark.name for benchmark in suites.BENCHMARKS]
    assert list(readme.marked_sections(text)) == names
    for benchmark in suites.BENCHMARKS:
        for run in (*benchmark.full, *benchmark.quick):
            assert (ROOT / run.script).is_file(), f"{benchmark.name}: no {run.script}"


def test_only_takes_a_benchmark_and_those_under_it(bench: ModuleType) -> None:
    suites = importlib.import_module("bench._suites")
    assert [b.name for b in suites.select("flags")] == ["flags", "flags-propagation", "flags-ofrep"]
    assert [b.name for b in suites.select("flags-ofrep,pipeline")] == ["pipeline", "flags-ofrep"]
    with pytest.raises(ValueError, match="no benchmark pipelines; known: pipeline"):
        suites.select("pipelines")


def test_every_json_document_a_benchmark_prints_is_read(bench: ModuleType) -> None:
    suites = importlib.import_module("bench._suites")
    printed = '{"rows": [1]}\n\n{"agreement": {}}\n'
    assert suites.read_reports(printed) == [{"rows": [1]}, {"agreement": {}}]
    with pytest.raises(ValueError, match="no JSON report"):
        suites.read_reports("benchmark failed\n")


def test_figures_show_their_goal_or_anchor_beside_them(bench: ModuleType) -> None:
    tables = importlib.import_module("bench._tables")
    figures = {
        "dag_wall": {"label": "DAG wall", "unit": "s", "median": 0.69, "p90": 0.7}
        | {"goal_max": 2.0, "verdict": "met", "note": ""},
        "dag_own": {"label": "jobs' own time", "unit": "s", "median": 0.09, "p90": 0.13}
        | {"note": "in-run anchor"},
        "overhead": {"label": "overhead per job", "unit": "ms", "median": 0.006, "p90": 0.0061}
        | {"goal_max": 0.005, "verdict": "NOT MET", "note": ""},
        "pickup": {"label": "vendor pickup", "unit": "s", "value": 5, "note": "vendor figure"},
    }
    assert tables.figures_table(figures).splitlines() == [
        "| figure | median | p90 | goal or anchor | verdict |",
        "| --- | ---: | ---: | --- | --- |",
        "| DAG wall | 0.69 s | 0.70 s | goal ≤ 2.00 s | met |",
        "| jobs' own time | 0.09 s | 0.13 s | in-run anchor |  |",
        "| overhead per job | 6.0 ms | 6.1 ms | goal ≤ 5.0 ms | **NOT MET** |",
        "| vendor pickup | 5.00 s |  | vendor figure |  |",
    ]
