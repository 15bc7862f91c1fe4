"""How long the orders judge needs, replayed without a platform: the platform's own
``SequentialJudge`` (andon.analysis.sequential) shown, once a second, windows of simulated
traffic at the benchmark's rates. A side computation for reading ``run.py``'s (c) row:
five trials cannot say how often detection takes longer than the analysis lasts.

    /work/venv/bin/python bench/rollout/power.py [--runs 200] [--weights 10,20,25]

Each second the canary gets Poisson(rate x weight) requests and the stable version the
rest; each request is a checkout with probability ``checkout_share``, whose order counts
with probability 1 (stable) or 1 - drop (canary). The judge is the one ``judges_for``
makes for the shop's orders metric with the benchmark's tolerance and ``min_samples``.
Printed per weight: the runs detected within the analysis, the median and p90 of their
detection times (seconds of canary traffic), and false alarms in as many runs with no
drop. Pure computation, seeded: the same arguments print the same figures.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys

from andon.analysis.metrics import Metric, MetricKind
from andon.analysis.samples import LatencyHistogram, VersionSample
from andon.analysis.sequential import SequentialJudge, SequentialState
from andon.analysis.verdicts import Look, Outcome

_EMPTY = LatencyHistogram.empty((0.1,))


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method, in chunks so that exp(-mean) does not underflow.
    count = 0
    while mean > 0:
        step = min(mean, 30.0)
        mean -= step
        limit, product = math.exp(-step), rng.random()
        while product > limit:
            count += 1
            product *= rng.random()
    return count


def _binomial(rng: random.Random, n: int, p: float) -> int:
    return sum(rng.random() < p for _ in range(n))


def detection(
    rng: random.Random,
    *,
    weight: float,
    drop: float,
    rate: float,
    checkout_share: float,
    tolerance: float,
    min_samples: int,
    seconds: int,
) -> float | None:
    """Seconds until the judge fails the canary; None if it passed or never decided."""
    judge = SequentialJudge(
        Metric("orders", MetricKind.BUSINESS, counter="orders"),
        max_decrease=tolerance,
        min_samples=min_samples,
    )
    canary_requests = stable_requests = 0
    canary_orders = stable_orders = 0.0
    state: SequentialState | None = None
    for second in range(1, seconds + 1):
        served = _poisson(rng, rate * weight)
        others = _poisson(rng, rate * (1 - weight))
        canary_requests += served
        stable_requests += others
        canary_orders += _binomial(rng, served, checkout_share * (1 - drop))
        stable_orders += _binomial(rng, others, checkout_share)
        look = Look(
            canary=VersionSample(
                "canary", second, canary_requests, 0, _EMPTY, {"orders": canary_orders}, 0.0
            ),
            stable=VersionSample(
                "stable", second, stable_requests, 0, _EMPTY, {"orders": stable_orders}, 0.0
            ),
            elapsed=float(second),
            budget=float(seconds),
            state=state,
        )
        verdict = judge.judge(look)
        state = verdict.state
        if verdict.outcome is Outcome.FAIL:
            return float(second)
        if verdict.outcome is Outcome.PASS:
            return None
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--weights", default="10,20,25", help="canary weights in percent")
    parser.add_argument("--seconds", type=int, default=60, help="the analysis' duration")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--checkout-share", type=float, default=0.2)
    parser.add_argument("--drop", type=float, default=0.3)
    parser.add_argument("--tolerance", type=float, default=0.1, help="max_decrease, a fraction")
    parser.add_argument("--min-samples", type=int, default=100)
    args = parser.parse_args(argv)
    print(
        f"{args.runs} runs per weight, {args.rate:g} req/s, {args.checkout_share:.0%} "
        f"checkouts, {args.drop:.0%} of the canary's orders dropped, max_decrease "
        f"{args.tolerance:.0%}, min_samples {args.min_samples}, analysis {args.seconds} s"
    )
    print(f"weight  detected in {args.seconds} s  median, p90 of those  false alarms (no drop)")
    for text in args.weights.split(","):
        weight = float(text) / 100
        options = {
            "weight": weight,
            "rate": args.rate,
            "checkout_share": args.checkout_share,
            "tolerance": args.tolerance,
            "min_samples": args.min_samples,
            "seconds": args.seconds,
        }
        rng = random.Random(int(text))
        found = [detection(rng, drop=args.drop, **options) for _ in range(args.runs)]
        times = sorted(t for t in found if t is not None)
        alarms = sum(detection(rng, drop=0.0, **options) is not None for _ in range(args.runs))
        median = f"{statistics.median(times):.0f} s" if times else "-"
        p90 = f"{times[int(0.9 * (len(times) - 1))]:.0f} s" if times else "-"
        share = f"{len(times)}/{args.runs} ({len(times) / args.runs:.0%})"
        print(f"{text + '%':>6}  {share:>16}  {median + ', ' + p90:>20}  {alarms}/{args.runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
