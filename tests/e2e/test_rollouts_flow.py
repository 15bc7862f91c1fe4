"""End to end, deployments as a team lives them, with customers' requests flowing all
the while: a good release goes through a canary with no failed request; a slow release
is rolled back by the immune system, which says why; a server killed mid-canary resumes
at the same step; ``undo`` while the old version is still warm switches back at once;
recreate, rolling and blue-green take releases through with no failed request either.

The real server, agent, router and shop run as processes; the shop's andon.yaml is made
quick (short steps, a one-second analysis interval) so that the story takes a minute.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from andon.testing import git
from andon.testing.customers import Customers
from andon.testing.stacks import Stack, wait_for

# Two of the four long stories per worker, one after the other: all four at once on two
# cores make each so slow that their waits time out.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stories-a")]

NAMED = "      shop_name: Andon Shop II"
STEPS = """  steps:
    - weight: 20%
    - analysis: {metrics: [latency], duration: 6s}
    - weight: 50%
    - pause: {}
    - weight: 100%
"""


def quick(text: str) -> str:
    """The shop's andon.yaml with a canary that takes seconds, not minutes."""
    text = re.sub(r"  steps:\n(    - .*\n)+", STEPS, text, count=1)
    text = text.replace(
        "    interval: 5s\n    min_samples: 200\n", "    interval: 1s\n    min_samples: 30\n"
    )
    text = text.replace("  finalize_delay: 30s", "  finalize_delay: 8s")
    text = text.replace("    scale_down_delay: 10m", "    scale_down_delay: 2s")
    return text


def commit_release(stack: Stack, message: str, change: Callable[[str], str]) -> str:
    """Commit a change to the shop's andon.yaml; its commit once its pipeline is green."""
    spec = stack.repo / "examples" / "shop" / "andon.yaml"
    spec.write_text(change(spec.read_text()))
    git(stack.repo, "commit", "-qam", message)
    commit = git(stack.repo, "rev-parse", "HEAD")
    stack.ok("pipeline", "run", "--wait")
    return commit


def rollout(stack: Stack, environment: str = "staging") -> dict[str, Any]:
    return dict(stack.api.get(f"/projects/shop/environments/{environment}/rollout").json())


def where(stack: Stack) -> Callable[[], str]:
    """What a failed wait says: the rollout's phase, step, weights and last message."""

    def shown() -> str:
        r = rollout(stack)
        return (
            f"{r['status']} ({r['phase']}, step {r['step_index']}, weights "
            f"{r['traffic']['weights']}): {r['message']}; commands {r['pending_commands']}"
        )

    return shown


def a_good_release_goes_through_the_canary_without_a_failed_request(
    stack: Stack, customers: Customers
) -> str:
    good = commit_release(
        stack, "a new name", lambda t: t.replace("Andon Shop (staging)", "Andon Shop II")
    )

    started = stack.ok("deploy", "staging", "--commit", good, "--strategy", "canary")
    assert "Rollout #" in started.stdout
    paused = wait_for(
        "the canary to pause at its pause step",
        lambda: (found := rollout(stack))["phase"] == "paused" and found,
        timeout=60,
        state=where(stack),
    )
    assert paused["traffic"]["weights"] == {paused["from_version"]: 50, good: 50}
    assert "latency passed" in json.dumps(paused["decisions"])
    status = stack.ok("rollout", "status", "staging")
    assert "paused" in status.stdout
    return good


def a_server_killed_mid_canary_resumes_at_the_same_step(stack: Stack, good: str) -> None:
    before = rollout(stack)
    stack.kill_server()
    stack.start_server()
    after = rollout(stack)
    assert (after["phase"], after["step_index"]) == (before["phase"], before["step_index"])
    stack.ok("rollout", "promote", "staging")
    wait_for(
        "the canary to take all traffic",
        lambda: rollout(stack)["traffic"]["weights"] == {good: 100},
        timeout=30,
        state=where(stack),
    )


def undo_while_the_old_version_is_warm_switches_back_at_once(
    stack: Stack, customers: Customers, good: str
) -> None:
    old = rollout(stack)["from_version"]
    asked = time.monotonic()
    undone = stack.api.post("/projects/shop/environments/staging/rollout/undo", json={})
    assert undone.status_code == 200, undone.text
    back = wait_for(
        "the old version to answer",
        lambda: (
            customers.versions_since(time.monotonic() - 0.05).get(old[:12]) and time.monotonic()
        ),
        timeout=10,
    )
    assert back - asked <= 1.0, f"undo took {back - asked:.2f}s"
    ended = wait_for(
        "the rollout to end",
        lambda: (r := rollout(stack))["status"] == "aborted" and r,
        state=where(stack),
    )
    assert ended["traffic"]["weights"] == {old: 100}


def a_slow_release_is_rolled_back_by_itself_saying_why(stack: Stack) -> None:
    slow = commit_release(
        stack,
        "slow down",
        lambda t: t.replace(
            "      shop_name: Andon Shop II",
            "      shop_name: Andon Shop II\n      added_latency_ms: 300",
        ),
    )
    stack.ok("deploy", "staging", "--commit", slow, "--strategy", "canary")
    ended = wait_for(
        "the slow canary to be rolled back",
        lambda: (r := rollout(stack))["status"] in {"rolled_back", "succeeded", "paused"} and r,
        timeout=60,
        state=where(stack),
    )
    assert ended["status"] == "rolled_back", ended["message"]
    assert "latency" in ended["message"]
    shown = stack.ok("rollout", "status", "staging").stdout
    assert "rolled back" in shown and "latency" in shown


def each_strategy_takes_a_release_through_without_a_failed_request(
    stack: Stack, customers: Customers, good: str
) -> None:
    old = stack.environment("staging")["version"]
    for strategy, version in (("recreate", good), ("rolling", old), ("blue-green", good)):
        asked = time.monotonic()
        stack.ok("deploy", "staging", "--commit", version, "--strategy", strategy, "--wait")
        assert stack.environment("staging")["version"] == version
        wait_for(
            f"{strategy}: the new version to answer",
            lambda v=version, t=asked: customers.versions_since(t).get(v[:12]),
            timeout=10,
        )
        assert customers.failed() == [], strategy


@pytest.mark.timeout(300)
def test_deployments_decoupled_from_release(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(quick, backoff=0.5)
    up = stack.ok("env", "up", "staging", "--wait")
    with Customers(up.stdout.strip()) as customers:
        good = a_good_release_goes_through_the_canary_without_a_failed_request(stack, customers)
        a_server_killed_mid_canary_resumes_at_the_same_step(stack, good)
        undo_while_the_old_version_is_warm_switches_back_at_once(stack, customers, good)
        a_slow_release_is_rolled_back_by_itself_saying_why(stack)
        each_strategy_takes_a_release_through_without_a_failed_request(stack, customers, good)
    assert customers.failed() == []
    assert len(customers.answers) > 500
