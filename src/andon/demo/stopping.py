"""Step 7 of the demo: the andon cord. A commit on trunk with a failing test turns the
pipeline red and the line stops by itself; a teammate's branch, built green from before
the break, is refused by prod (protected) with the line's reason; reverting the test
makes trunk green and the line restarts by itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from andon.demo.api import RefusedError
from andon.demo.failures import DemoError
from andon.demo.repository import BRANCH_COMMIT, BROKEN_TEST_COMMIT, TEST_REVERT_COMMIT
from andon.demo.story import PROJECT, Story, describe_pipeline

BRANCH = "feature/currency"


def build_a_branch_ahead(story: Story) -> None:
    """During step 5: a teammate's branch from green trunk, built meanwhile."""
    feature = story.repo.branch_from(BRANCH, story.repo.head(), BRANCH_COMMIT)
    story.commits["feature"] = feature
    story.early["feature"] = story.progress.elapsed()
    story.api.post(f"/projects/{PROJECT}/pipelines", {"ref": BRANCH})


def break_a_test_ahead(story: Story) -> None:
    """During step 6: the commit that breaks a test, so that its pipeline runs meanwhile."""
    story.commit_early("broken", BROKEN_TEST_COMMIT)


def the_line_stops_and_restarts(story: Story) -> None:
    """Step 7: red trunk → line stopped → a promotion refused → a fix → line running."""
    feature = story.commits["feature"]
    story.say(
        f"a teammate's branch {BRANCH} ({feature[:12]}, from green trunk) was pushed at "
        f"{story.early['feature']:.1f}s; it is built beside trunk"
    )
    broken = story.commit("broken", BROKEN_TEST_COMMIT)
    red = story.pipeline(broken)
    if red["status"] != "failed":
        raise DemoError(f"the pipeline of the broken test is {red['status']}, not failed")
    story.say(describe_pipeline(red), style="red")
    line = _line(story, "stopped")
    ago = line.get("stopped_seconds")
    when = f" {ago:.1f}s ago" if isinstance(ago, int | float) and ago >= 1 else ""
    story.say(f"the line stopped by itself{when} (the andon cord):")
    story.progress.quote(str(line["reason"]), style="red")

    built = story.green(feature, branch=BRANCH)
    try:
        story.api.post(
            f"/projects/{PROJECT}/environments/prod/rollouts", {"artifact": built["artifact"]}
        )
    except RefusedError as refusal:
        story.say(f"andon deploy prod --artifact {built['artifact'][7:19]} is refused:")
        story.progress.quote(refusal.message, style="bold red")
        story.fact(f"trunk red: the line stopped; prod refused {BRANCH}'s newer artifact")
    else:
        raise DemoError(
            "prod took an artifact newer than the last green commit while the line was stopped"
        )

    fixed = story.commit("revert", TEST_REVERT_COMMIT)
    story.green(fixed)
    line = _line(story, "running")
    stopped = _stopped_for(line)
    story.say(f"trunk is green again: the line restarts by itself{stopped}", style="green")
    story.fact(f"a revert made trunk green: the line restarted by itself{stopped}")


def _line(story: Story, state: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        line = story.api.get(f"/projects/{PROJECT}/line")
        return line if line["state"] == state else None

    with story.doing(f"the line to be {state}"):
        return dict(story.wait(f"the line to be {state}", reached, timeout=20))


def _stopped_for(line: dict[str, Any]) -> str:
    """`` (it was stopped for 21.3s)``, from the line's history (newest first)."""
    history = line.get("history") or []
    times = [e.get("at") for e in history[:2] if isinstance(e, dict)]
    if len(times) < 2 or not all(times):
        return ""
    seconds = (
        datetime.fromisoformat(str(times[0])) - datetime.fromisoformat(str(times[1]))
    ).total_seconds()
    return f" (it was stopped for {seconds:.1f}s)"
