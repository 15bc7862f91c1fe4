"""Steps 5 and 6 of the demo: release as a flag decision. The shoppers' pages ask a real
flag SDK (:class:`~andon.flags.client.FlagClient`, with a client token of prod) whether
to show the new checkout: first employees only, then half of everyone as an A/B
experiment whose results the server computes from the SDK's exposures and ``track``
events; then the payments service the new checkout needs goes down, the SDK's
dependency guard serves the old checkout by itself, and restores the new one when
payments is back — each flip reported to the server's flag history.
"""

from __future__ import annotations

import logging
from typing import Any

from rich.table import Table

from andon.demo.failures import DemoError
from andon.demo.shoppers import BUYS, Shoppers
from andon.demo.story import PROJECT, Story
from andon.flags.client import FlagClient

FLAG = "new-checkout"
SDK_LOGGER = "andon.flags.client"
MIN_EXPOSURES = 100
"""Per variant: fewer and the server gives no verdict yet."""
BUSY_PAUSE_S = 0.0
"""Between visits while the experiment gathers exposures: shoppers come faster."""
_FLAGS = f"/projects/{PROJECT}/environments/prod/flags"


def dark_launch_then_experiment(story: Story) -> None:
    """Step 5: ``new-checkout`` for employees only, then a 50% A/B experiment."""
    shoppers = story.the_shoppers()
    token = story.api.post(f"{_FLAGS}/tokens", {"name": "shop pages"})["token"]
    client = FlagClient(
        story.andon.url,
        env="prod",
        token=token,
        cache_dir=story.andon.home / "flag-cache",
        flush_interval=1.0,
    )
    story.flags = client
    story.closers.append(client.close)
    _relay_sdk_log(story)
    if not client.wait_ready(15):
        raise DemoError("the flag SDK got no flag set from the server within 15s")
    shoppers.flags = client
    story.say(
        "the shop's pages ask the flag SDK (a client token of prod) who gets the new checkout"
    )

    _set(story, {"segment": "employees", "reason": "dark launch: employees first"})
    story.say(f"andon flags set {FLAG} --env prod --segment employees: a dark launch")
    since = story.clock()
    with story.doing("employees shopping"):
        story.wait(
            "three employees to visit",
            lambda: sum(v.employee for v in shoppers.tally(since).visits) >= 3,
            timeout=30,
        )
    visits = shoppers.tally(since).visits
    staff = [v for v in visits if v.employee]
    others = [v for v in visits if not v.employee]
    dark = (
        f"employees on the new checkout: {sum(v.new_checkout for v in staff)} of {len(staff)}"
        f" visits; customers: {sum(v.new_checkout for v in others)} of {len(others)}"
    )
    story.say(dark)
    story.fact(dark)

    _set(story, {"rollout": 50, "reason": "A/B experiment on checkouts"})
    story.say(
        f"andon flags set {FLAG} --env prod --rollout 50: an A/B experiment, goal: checkout "
        f"(synthetic shoppers: {BUYS[True]:.0%} buy on the new checkout, {BUYS[False]:.0%} "
        "on the old)"
    )
    results = _gather(story, shoppers)
    story.progress.show(_results_table(results))
    story.progress.quote(results["message"], style="cyan")
    story.fact(f"A/B experiment: {results['message']}")


def a_dependency_goes_down(story: Story) -> None:
    """Step 6: payments goes down, the SDK's guard degrades the flag; it comes back."""
    shoppers, client = story.the_shoppers(), story.flags
    if client is None:
        raise DemoError("step 6 needs the flag SDK that step 5 starts")
    story.say(
        f"andon.yaml guards {FLAG}: the SDK checks payments at {story.payments.address} "
        "every 500ms and serves off after 2 failed checks"
    )
    last = _last_history_id(story)
    story.payments.stop()
    down = story.clock()
    story.say("the payments service goes down: its port refuses connections")
    tripped = _history_entry(story, "guard_tripped", after=last)
    took = story.clock() - down
    story.say(
        f"the guard tripped in the shoppers' process within {took:.1f}s; the server's "
        "flag history records what the SDK reported:"
    )
    story.progress.quote(tripped["reason"])
    degraded = story.clock()
    with story.doing("shoppers shopping without payments"):
        story.linger(2.0)
    unpaid = sum(v.outcome == "unpaid" for v in shoppers.tally(down).visits)
    after = shoppers.tally(degraded).visits
    on_new = sum(v.new_checkout for v in after)
    story.say(
        f"{unpaid} shopper(s) could not pay before the guard tripped; since then "
        f"{len(after) - on_new} of {len(after)} visits got the old checkout, "
        f"{sum(v.outcome == 'bought' for v in after)} bought"
    )
    story.payments.start()
    back = story.clock()
    story.say("the payments service is back")
    restored = _history_entry(story, "guard_restored", after=tripped["id"])
    again = story.clock() - back
    story.say(f"the guard restored {FLAG} within {again:.1f}s:")
    story.progress.quote(restored["reason"], style="green")
    story.fact(
        f"payments down: the guard served the old checkout within {took:.1f}s ({unpaid} "
        f"shopper(s) could not pay meanwhile); back: restored within {again:.1f}s"
    )


class _SdkLog(logging.Handler):
    """The flag SDK's own log lines (a guard that trips, a flag restored), shown among the
    demo's, dimmed."""

    def __init__(self, story: Story) -> None:
        super().__init__(logging.INFO)
        self.story = story

    def emit(self, record: logging.LogRecord) -> None:
        self.story.say(f"the flag SDK logs: {record.getMessage()}", style="dim")


def _relay_sdk_log(story: Story) -> None:
    logger = logging.getLogger(SDK_LOGGER)
    handler = _SdkLog(story)
    logger.addHandler(handler)
    story.closers.append(lambda: logger.removeHandler(handler))


def _set(story: Story, body: dict[str, Any]) -> None:
    """Change the flag and wait until the SDK serves the change."""
    changed = story.api.post(f"{_FLAGS}/{FLAG}/set", body)
    client = story.flags
    if client is None:
        return
    version = int(changed["version"])
    with story.doing("the SDK taking the change"):
        story.wait(
            f"the flag SDK to serve version {version} of prod's flags",
            lambda: (client.version or 0) >= version,
            timeout=15,
        )


def _gather(story: Story, shoppers: Shoppers) -> dict[str, Any]:
    """The experiment's results once each variant has enough exposures for a verdict."""
    path = f"/projects/{PROJECT}/environments/prod/experiments/{FLAG}"

    def enough() -> dict[str, Any] | None:
        found = story.api.get(path)
        counts = [variant["exposures"] for variant in found["variants"]]
        return found if len(counts) > 1 and min(counts) >= MIN_EXPOSURES else None

    pause, shoppers.pause = shoppers.pause, BUSY_PAUSE_S
    try:
        with story.doing(f"shoppers exposed to {FLAG} (the SDK reports them every second)"):
            return dict(story.wait(f"{MIN_EXPOSURES} exposures per variant", enough, timeout=90))
    finally:
        shoppers.pause = pause


def _results_table(results: dict[str, Any]) -> Table:
    table = Table(box=None, pad_edge=False, padding=(0, 2))
    for column in ("variant", "exposures", "checkouts", "rate", "lift", "p-value", "best"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for variant in results["variants"]:
        lift = variant.get("lift") or {}
        relative = lift.get("relative")
        table.add_row(
            f"         {variant['name']}"
            + (" (control)" if variant["name"] == results["control"] else ""),
            str(variant["exposures"]),
            str(variant["conversions"]),
            "-" if variant["rate"] is None else f"{variant['rate']:.1%}",
            "-" if relative is None else f"{relative:+.1%}",
            "-" if lift.get("p_value") is None else f"{lift['p_value']:.3f}",
            "-" if variant["probability_best"] is None else f"{variant['probability_best']:.0%}",
        )
    return table


def _history(story: Story) -> list[dict[str, Any]]:
    return list(story.api.get(f"{_FLAGS}/{FLAG}/history?limit=20"))


def _last_history_id(story: Story) -> int:
    entries = _history(story)
    return max((int(e["id"]) for e in entries), default=0)


def _history_entry(story: Story, kind: str, *, after: int) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        for entry in _history(story):
            if entry["kind"] == kind and int(entry["id"]) > after:
                return entry
        return None

    with story.doing(f"the flag history to record {kind.replace('_', ' ')}"):
        return dict(story.wait(f"the guard's {kind.replace('_', ' ')}", found, timeout=20))
