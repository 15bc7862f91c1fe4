"""Every benchmark ``python -m bench`` reruns: the commands of a full run and of a quick
one (``--quick``, a smoke check of the plumbing), the programs each needs, and how its
JSON reports become the Markdown of its section of bench/README.md.

Each benchmark already measures its anchors in the same run as its figures; this module
only says how to call it. A benchmark that prints JSON with ``--json`` is read from its
stdout; one that writes a JSON file (the flags' propagation and OFREP) is read from there.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench._machine import ROOT
from bench._tables import (
    Report,
    figures_table,
    flags_table,
    ofrep_table,
    propagation_table,
    rollout_whole_run,
    router_table,
    weights_table,
)


@dataclass(frozen=True)
class Run:
    """One command of a benchmark: a script under bench/ and its arguments."""

    script: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    writes: str | None = None
    """The JSON file the script writes its report to, when it prints none."""

    def argv(self) -> list[str]:
        program = ["bash"] if self.script.endswith(".sh") else [sys.executable]
        return [*program, str(ROOT / self.script), *self.args]

    def shown(self) -> str:
        """The command as a person would type it from the repository's root."""
        return " ".join([*(f"{name}={value}" for name, value in self.env), self.script, *self.args])


@dataclass(frozen=True)
class Benchmark:
    name: str
    full: tuple[Run, ...]
    quick: tuple[Run, ...]
    render: Callable[[Sequence[Sequence[Report]]], str]
    """The Markdown of its section from each run's JSON documents, in run order."""
    needs: tuple[str, ...] = ()
    """Programs it runs besides Python (load generators, the proxies it is compared with)."""


def read_reports(stdout: str) -> list[Report]:
    """Every JSON document a run printed, in order (``run.sh`` prints two: the main run's
    and the flagd v2 agreement run's). ValueError when there is none."""
    decoder = json.JSONDecoder()
    reports: list[Report] = []
    position = 0
    while True:
        start = stdout.find("{", position)
        if start < 0:
            break
        report, position = decoder.raw_decode(stdout, start)
        reports.append(report)
    if not reports:
        raise ValueError("it printed no JSON report")
    return reports


def _figures(reports: Sequence[Sequence[Report]]) -> str:
    return figures_table(reports[0][0]["figures"])


def _rollout(reports: Sequence[Sequence[Report]]) -> str:
    return _figures(reports) + "\n\n" + rollout_whole_run(reports[0][0])


def _flags(reports: Sequence[Sequence[Report]]) -> str:
    documents = reports[0]
    return flags_table(documents[0], documents[1] if len(documents) > 1 else None)


_PIPELINE = "bench/pipeline/run.py"
_ROUTER = "bench/router/run.py"
_WEIGHTS = "bench/router/weights.py"
_ENVIRONMENTS = "bench/environments/run.py"
_ROLLOUT = "bench/rollout/run.py"
_PROPAGATION = "bench/flags/propagation.py"
_OFREP = "bench/flags/ofrep.py"

BENCHMARKS = (
    Benchmark(
        "pipeline",
        full=(Run(_PIPELINE, ("--json",)),),
        quick=(Run(_PIPELINE, ("--json", "--repeat", "1", "--shop-repeat", "1")),),
        render=_figures,
    ),
    Benchmark(
        "router",
        full=(
            Run(_ROUTER, ("--json", "--workers", "1")),
            Run(_ROUTER, ("--json", "--workers", "2")),
        ),
        quick=(Run(_ROUTER, ("--json", "--workers", "1", "--rounds", "1", "--duration", "2")),),
        render=lambda reports: router_table([documents[0] for documents in reports]),
        needs=("wrk", "nginx", "haproxy"),
    ),
    Benchmark(
        "router-weights",
        full=(Run(_WEIGHTS, ("--json", "--rounds", "3")),),
        quick=(
            Run(
                _WEIGHTS,
                (
                    "--json",
                    "--workers",
                    "1",
                    "--variants",
                    "keepalive",
                    "--duration",
                    "3",
                    "--changes",
                    "10",
                ),
            ),
        ),
        render=lambda reports: weights_table(reports[0][0]),
        needs=("wrk", "nginx"),
    ),
    Benchmark(
        "environments",
        full=(Run(_ENVIRONMENTS, ("--json",)),),
        quick=(Run(_ENVIRONMENTS, ("--json", "--rounds", "1", "--warmup", "0")),),
        render=_figures,
    ),
    Benchmark(
        "rollout",
        full=(Run(_ROLLOUT, ("--json",)),),
        quick=(
            Run(_ROLLOUT, ("--json", "--scenarios", "errors", "--trials", "1", "--anchor", "5")),
        ),
        render=_rollout,
    ),
    Benchmark(
        "flags",
        full=(Run("bench/flags/run.sh", ("--json",)),),
        quick=(
            Run(
                "bench/flags/run.sh",
                ("--json", "--users", "20000", "--rounds", "3", "--no-memory"),
                env=(("FLAGD_V2", "0"),),
            ),
        ),
        render=_flags,
    ),
    Benchmark(
        "flags-propagation",
        full=(Run(_PROPAGATION, ("--rounds", "10"), writes="bench/flags/propagation.json"),),
        quick=(
            Run(
                _PROPAGATION,
                ("--clients", "20", "--workers", "2", "--rounds", "2"),
                writes="bench/flags/propagation.json",
            ),
        ),
        render=lambda reports: propagation_table(reports[0][0]),
    ),
    Benchmark(
        "flags-ofrep",
        full=(Run(_OFREP, writes="bench/flags/ofrep.json"),),
        quick=(Run(_OFREP, ("--rounds", "1", "--seconds", "2"), writes="bench/flags/ofrep.json"),),
        render=lambda reports: ofrep_table(reports[0][0]),
        needs=("wrk",),
    ),
)


def select(only: str | None) -> list[Benchmark]:
    """The benchmarks ``--only`` names, in the README's order: a name picks that benchmark
    and those under it (``flags`` is ``flags``, ``flags-propagation`` and ``flags-ofrep``).
    ValueError naming the unknown ones."""
    if not only:
        return list(BENCHMARKS)
    wanted = [name.strip() for name in only.split(",") if name.strip()]
    known = [benchmark.name for benchmark in BENCHMARKS]
    unknown = [name for name in wanted if name not in known]
    if unknown or not wanted:
        raise ValueError(f"no benchmark {', '.join(unknown) or 'named'}; known: {', '.join(known)}")
    return [
        benchmark
        for benchmark in BENCHMARKS
        if any(benchmark.name == name or benchmark.name.startswith(f"{name}-") for name in wanted)
    ]
