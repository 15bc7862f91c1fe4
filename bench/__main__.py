"""``python -m bench``: rerun every benchmark, each with its in-run anchors, and rewrite the
results parts of bench/README.md (between its ``<!-- bench:NAME:begin/end -->`` markers)
with the date, the machine, the load and the tables. Run it from the repository's root:

    python -m bench                         # everything, about an hour and a half
    python -m bench --only pipeline,flags   # some (flags: every flags-… benchmark too)
    python -m bench --quick --no-write      # a smoke check: fewer rounds, tables printed

Progress goes to stderr, the benchmarks' own included. Each benchmark's section is written
as soon as it ends, so an interrupted or failed run keeps what finished; a benchmark that
fails leaves its section as it was, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence

from bench import _machine
from bench._readme import begin_marker, end_marker, replace_sections
from bench._suites import BENCHMARKS, Benchmark, Run, read_reports, select
from bench._tables import Report

README = _machine.ROOT / "bench" / "README.md"


class BenchmarkError(Exception):
    """A benchmark could not run or gave no report; the message says which and why."""


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run_one(run: Run, *, keep_files: bool) -> list[Report]:
    """The JSON documents of one command, its progress passed through to stderr. With
    ``keep_files`` false, a JSON file the command writes is put back as it was."""
    written = _machine.ROOT / run.writes if run.writes else None
    before = written.read_bytes() if written and written.exists() else None
    env = {**os.environ, **dict(run.env)}
    try:
        finished = subprocess.run(
            run.argv(), cwd=_machine.ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False
        )
        if finished.returncode != 0:
            raise BenchmarkError(f"'{run.shown()}' exited with {finished.returncode}")
        text = written.read_text("utf-8") if written else finished.stdout
        try:
            return read_reports(text)
        except ValueError as exc:
            raise BenchmarkError(f"'{run.shown()}': {exc}") from exc
    finally:
        if written is not None and not keep_files and before is not None:
            written.write_bytes(before)


QUICK = (
    "**Quick run** (`python -m bench --quick`): too few rounds to read the figures by; it "
    "shows that everything runs."
)


def section(benchmark: Benchmark, *, quick: bool, keep_files: bool) -> str:
    """Run ``benchmark`` and return the Markdown of its section: when, on what, how
    loaded, the commands, and the tables."""
    runs = benchmark.quick if quick else benchmark.full
    missing = [program for program in benchmark.needs if shutil.which(program) is None]
    if missing:
        raise BenchmarkError(
            f"it needs {', '.join(missing)}: apt-get install -y {' '.join(missing)}"
        )
    taken = f"**{_machine.now()}**, andon at {_machine.code()}. Machine: {_machine.machine()}."
    load_before = _machine.load()
    started = time.monotonic()
    reports = [run_one(run, keep_files=keep_files) for run in runs]
    took = _duration(time.monotonic() - started)
    commands = "; ".join(f"`{run.shown()}`" for run in runs)
    said = (
        f"{taken} Load average {load_before} before the run and {_machine.load()} after. "
        f"{commands}: {took}."
    )
    try:
        tables = benchmark.render(reports)
    except (KeyError, IndexError, TypeError) as exc:
        raise BenchmarkError(f"its report lacks what the table needs ({exc!r})") from exc
    return "\n\n".join([*([QUICK] if quick else []), said, tables])


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} minutes"


def run_all(chosen: Sequence[Benchmark], *, quick: bool, write: bool) -> list[str]:
    """Run each benchmark, writing (or printing) its section as soon as it ends; the names
    of those that failed."""
    failed: list[str] = []
    for number, benchmark in enumerate(chosen, start=1):
        runs = benchmark.quick if quick else benchmark.full
        tag = f"[{number}/{len(chosen)}] {benchmark.name}"
        progress(f"{tag}: {'; '.join(run.shown() for run in runs)}")
        started = time.monotonic()
        try:
            body = section(benchmark, quick=quick, keep_files=write)
        except BenchmarkError as exc:
            progress(f"{tag} failed: {exc}")
            failed.append(benchmark.name)
            continue
        progress(f"{tag} done in {_duration(time.monotonic() - started)}")
        if write:
            text = replace_sections(README.read_text("utf-8"), {benchmark.name: body})
            README.write_text(text, "utf-8")
            progress(f"rewrote the {benchmark.name} section of bench/README.md")
        else:
            marked = [begin_marker(benchmark.name), body, end_marker(benchmark.name)]
            print("\n\n".join(marked) + "\n", flush=True)
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Rerun every benchmark beside its anchors and rewrite the results parts "
        "of bench/README.md.",
    )
    names = ", ".join(benchmark.name for benchmark in BENCHMARKS)
    parser.add_argument("--only", help=f"comma-separated, of: {names} (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a smoke check")
    parser.add_argument(
        "--no-write",
        "--dry-run",
        dest="write",
        action="store_false",
        help="print the sections instead of rewriting bench/README.md",
    )
    args = parser.parse_args(argv)
    try:
        chosen = select(args.only)
        if args.write:
            # Every marker is checked before an hour of benchmarks, not after.
            replace_sections(README.read_text("utf-8"), {b.name: "" for b in chosen})
    except ValueError as exc:  # MarkerError too
        parser.error(str(exc))
    try:
        failed = run_all(chosen, quick=args.quick, write=args.write)
    except KeyboardInterrupt:
        # The benchmark running got the same Ctrl-C and stops what it started.
        progress("interrupted; the sections of the benchmarks that ended are kept")
        return 130
    if failed:
        progress(f"failed: {', '.join(failed)}; their sections are unchanged")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
