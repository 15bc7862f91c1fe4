"""Where the time of one ``FlagSet.resolve_boolean`` goes, for the benchmark's flag.

    /tmp/andon-bench-flags-venv/bin/python bench/flags/profiling.py [--users N] [--repeat R]
    /work/venv/bin/python bench/flags/profiling.py          # Andon alone needs no other SDK

Two views. A *ladder*: the same 200,000 contexts evaluated by ever larger pieces of the
evaluation path, each the previous one plus one layer (the bucket's hash, the compiled
rule, the flag, the flag set, the typed helper), so that the difference between two rungs
is what that layer costs; medians of ``--repeat`` passes. Then cProfile's view of the
whole path (its own overhead inflates every call; read it for the shares, not the times).
Reads private attributes of the flag set (``_flags``): it is a measuring tool, not a user.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import statistics
import sys
import time
from bisect import bisect_right
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mmh3
from contenders import FLAG_KEY, FLAGD_DOCUMENT, ON_COUNTRIES, make_users

from andon.bucketing import bucket_of, flag_bucketing_key
from andon.flags import FlagSet
from andon.flags.resolutions import FlagType


def ladder(contexts: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    flags = FlagSet.from_document(FLAGD_DOCUMENT)
    flag = flags._flags[FLAG_KEY]
    rule, resolve_flag, evaluate = flag.rule, flag.resolve, flags.evaluate
    resolve_boolean = flags.resolve_boolean
    choices, key = frozenset(ON_COUNTRIES), FLAG_KEY
    hash_ = mmh3.hash
    ends, names = [50, 100], ["on", "off"]
    boolean = FlagType.BOOLEAN

    def empty() -> None:
        for context in contexts:
            if context:
                pass

    def country_test() -> None:
        for context in contexts:
            if context.get("country") in choices:
                pass

    def inline_bucket() -> None:
        # The set test, then the bucket with the hash called inline: the floor in Python.
        for context in contexts:
            if context.get("country") in choices:
                names[
                    bisect_right(ends, (hash_(key + context["targetingKey"], 0, False) * 100) >> 32)
                ]

    def andon_bucketing_calls() -> None:
        # The same through andon.bucketing's functions, as the compiled rule calls them.
        for context in contexts:
            if context.get("country") in choices:
                targeting_key = context.get("targetingKey")
                if isinstance(targeting_key, str):
                    names[
                        bisect_right(ends, bucket_of(flag_bucketing_key(key, targeting_key), 100))
                    ]

    def compiled_rule() -> None:
        for context in contexts:
            rule(context)

    def compiled_flag() -> None:
        for context in contexts:
            resolve_flag(False, context)

    def flag_set_evaluate_untyped() -> None:
        for context in contexts:
            evaluate(key, False, context)

    def flag_set_evaluate_boolean() -> None:
        for context in contexts:
            evaluate(key, False, context, kind=boolean)

    def typed_helper() -> None:
        for context in contexts:
            resolve_boolean(key, False, context)

    def typed_helper_value() -> None:
        for context in contexts:
            if resolve_boolean(key, False, context).value:
                pass

    def enum_hash() -> None:
        # What `kind in flag.exact_types` costs by itself: hashing a StrEnum member runs
        # Enum.__hash__, a Python function.
        exact = flag.exact_types
        for context in contexts:
            if context and boolean in exact:
                pass

    rungs = [
        ("empty loop", empty),
        ("+ country in {NL, DE}", country_test),
        ("+ bucket inline (f-string-free concat, mmh3, bisect)", inline_bucket),
        ("same via andon.bucketing calls", andon_bucketing_calls),
        ("compiled rule: flag.rule(context)", compiled_rule),
        ("compiled flag: flag.resolve(False, context)", compiled_flag),
        ("FlagSet.evaluate(key, False, context)", flag_set_evaluate_untyped),
        ("FlagSet.evaluate(..., kind=BOOLEAN)", flag_set_evaluate_boolean),
        ("FlagSet.resolve_boolean(key, False, context)", typed_helper),
        ("... .value tested (the benchmark's pass)", typed_helper_value),
        ("(aside) empty loop + `BOOLEAN in exact_types`", enum_hash),
    ]
    try:
        from andon.flags.client import FlagClient  # noqa: PLC0415
    except ImportError:
        return rungs
    client = FlagClient(None, cache_dir=False, bootstrap=FLAGD_DOCUMENT)
    client_boolean = client.boolean

    def sdk_offline() -> None:
        for context in contexts:
            if client_boolean(key, False, context):
                pass

    return [*rungs, ("(SDK) FlagClient(None, bootstrap=...).boolean", sdk_offline)]


def time_rungs(rungs: list[tuple[str, Any]], users: int, repeat: int) -> list[tuple[str, float]]:
    samples: dict[str, list[float]] = {label: [] for label, _ in rungs}
    for _ in range(repeat):
        for label, run in rungs:  # interleaved, so the rungs share the machine's noise
            gc.collect()
            start = time.perf_counter_ns()
            run()
            samples[label].append((time.perf_counter_ns() - start) / users)
    return [(label, statistics.median(values)) for label, values in samples.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    users = make_users(args.users)
    contexts = [{"targetingKey": user_id, "country": country} for user_id, country in users]
    rungs = ladder(contexts)
    print(f"ns per evaluation, median of {args.repeat} passes over {args.users:,} users")
    previous = None
    for label, ns in time_rungs(rungs, len(contexts), args.repeat):
        step = (
            ""
            if previous is None or label.startswith(("same", "(aside)", "(SDK)"))
            else f"{ns - previous:+7.0f}"
        )
        print(f"  {label:<56} {ns:7.0f} {step}")
        if not label.startswith(("same", "(aside)", "(SDK)")):
            previous = ns

    flags = FlagSet.from_document(FLAGD_DOCUMENT)
    resolve = flags.resolve_boolean
    profiler = cProfile.Profile()
    profiler.enable()
    for context in contexts:
        resolve(FLAG_KEY, False, context)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(14)
    print("\ncProfile of resolve_boolean over every user (tottime = the function's own time):")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
