"""The demo's first half: setting up, then steps 1 to 4 — a commit down the line to
test, its blue-green release to prod under synthetic shoppers, a defect the tests do
not catch rolled back by the immune system, and the fix promoted through a canary.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from andon import __version__
from andon.demo.api import DemoApi
from andon.demo.failures import DemoError
from andon.demo.payments import Payments
from andon.demo.progress import Progress
from andon.demo.repository import (
    DEFECT_COMMIT,
    FIX_COMMIT,
    TAGLINE_COMMIT,
    ShopRepository,
    find_shop,
)
from andon.demo.shoppers import Shoppers
from andon.demo.stack import PrivateAndon
from andon.demo.story import Story, decisions


def set_up(andon: PrivateAndon, payments: Payments, progress: Progress, speed: float) -> Story:
    """Start the private Andon, register the shop from a git repository of its own, build
    its trunk, make test and prod, and send shoppers to prod."""
    say = progress.say
    payments.start()
    repo = ShopRepository.create(andon.home / "shop", find_shop(), payments.address)
    say(f"a git repository of the example shop at {repo.path} (its canary made quick)")
    with progress.doing("andon start"):
        token = andon.start()
    say(f"Andon {__version__} runs at {andon.url}, its home {andon.home}")
    api = DemoApi(andon.url, token)
    api.post("/projects", {"source": str(repo.path)})
    say(f"andon project add {repo.path}: the shop is registered, trunk main")
    api.post("/users", {"name": "sam", "role": "deployer"})
    sams = api.post("/tokens", {"name": "demo approvals", "user": "sam"})
    story = Story(andon, api, DemoApi(andon.url, sams["token"]), repo, payments, progress, speed)
    story.commits["import"] = repo.head()
    first = story.green(repo.head())
    story.fact(f"pipeline #{first['id']} green in {first['duration']:.1f}s, tests in parallel")
    for name in ("test", "prod"):
        story.create_environment(name, first["artifact"])
    story.ready("test")
    prod = story.ready("prod")
    story.prod_url = prod["url"]
    say(f"test and prod run the shop as imported; prod answers at {prod['url']}")
    story.shoppers = Shoppers(prod["url"], payments)
    story.shoppers.start()
    say("synthetic shoppers start browsing prod, filling carts and checking out")
    story.fact("test and prod made from andon.yaml; synthetic shoppers on prod")
    return story


def a_commit_goes_down_the_line(story: Story) -> None:
    """Step 1: commit → pipeline (tests in parallel) → artifact → test, smoke-tested."""
    commit = story.commit("tagline", TAGLINE_COMMIT)
    pipeline = story.green(commit)
    story.fact(
        f"pipeline #{pipeline['id']} green in {pipeline['duration']:.1f}s, tests in parallel"
    )
    test = story.runs("test", commit)
    rollout = test.get("rollout") or {}
    checks = _smoke_checks(rollout)
    story.say(
        f"test runs {commit[:12]}, deployed by itself (auto_deploy, {rollout.get('strategy')})"
        f"{'; smoke tests passed: ' + checks if checks else ''}"
    )
    story.fact(f"test took artifact {pipeline['artifact'][7:19]} by itself; smoke tests passed")


def first_release_to_prod(story: Story) -> None:
    """Step 2: the same artifact to prod, blue-green, while shoppers shop."""
    shoppers = story.the_shoppers()
    commit = story.commits["tagline"]
    since = story.clock()
    rollout = story.finished(story.deploy("prod", commit, "blue-green"))
    if rollout["status"] != "succeeded":
        raise DemoError(f"the blue-green release ended {rollout['status']}: {rollout['message']}")
    for sentence in decisions(rollout, "promoted")[:1]:
        story.progress.quote(sentence, style="green")
    seen = shoppers.tally(since)
    story.say(
        f"prod runs {commit[:12]}; shoppers made {seen.requests} requests meanwhile, "
        f"{seen.failed} failed ({_versions(seen.versions)})"
    )
    story.fact(
        f"blue-green in {_took(rollout)}: {seen.failed} of {seen.requests} shopper requests failed"
    )


def commit_the_defect_ahead(story: Story) -> None:
    """During step 2: the defect's commit, so that its pipeline runs meanwhile."""
    story.commit_early("defect", DEFECT_COMMIT)


def a_defect_the_tests_do_not_catch(story: Story) -> None:
    """Step 3: a defect passes the tests and smoke; the canary's analysis rolls it back."""
    shoppers = story.the_shoppers()
    commit = story.commit("defect", DEFECT_COMMIT)
    story.say("it writes a column the carts table does not have when a third product is added")
    story.green(commit)
    story.say("the unit tests and the smoke test never put 3 products in a cart: they pass")
    since = story.clock()
    rollout = story.finished(story.deploy("prod", commit, "canary"))
    if rollout["status"] != "rolled_back":
        raise DemoError(
            f"the immune system did not roll the defect back: rollout #{rollout['id']} ended "
            f"{rollout['status']}: {rollout['message']}"
        )
    failed = shoppers.tally(since).outcomes()["failed"]
    story.say(
        f"rollout #{rollout['id']} rolled back by itself after {_took(rollout)}; "
        f"{failed} shopper(s) met an error on the canary meanwhile"
    )
    story.say("the immune system's explanation:")
    why = (decisions(rollout, "rolling_back", "rolled_back") or [rollout["message"]])[0]
    story.progress.quote(why, style="bold yellow")
    story.fact(f"tests green; the canary rolled back by itself in {_took(rollout)}: “{why}”")


def the_fix_is_promoted(story: Story) -> None:
    """Step 4: the fix goes through the same canary and takes all traffic."""
    shoppers = story.the_shoppers()
    commit = story.commit("fix", FIX_COMMIT)
    story.green(commit)
    since = story.clock()
    rollout = story.finished(story.deploy("prod", commit, "canary"))
    if rollout["status"] != "succeeded":
        raise DemoError(f"the fix's canary ended {rollout['status']}: {rollout['message']}")
    for sentence in decisions(rollout, "analysis", "finished"):
        if sentence.startswith(("analysis run 1 passed", "finished")):
            story.progress.quote(sentence, style="green")
    seen = shoppers.tally(since)
    story.say(
        f"prod runs {commit[:12]}; shoppers made {seen.requests} requests meanwhile, "
        f"{seen.failed} failed, {seen.outcomes()['bought']} orders"
    )
    story.fact(
        f"canary 20% → 50% → 100% in {_took(rollout)}: {seen.failed} of {seen.requests} "
        "shopper requests failed"
    )


def _smoke_checks(rollout: dict[str, Any]) -> str:
    """The names of the smoke checks a rollout passed, as far as its record says."""
    checks = rollout.get("checks") or {}
    names: list[str] = []
    for result in checks.values() if isinstance(checks, dict) else []:
        for check in result if isinstance(result, list) else [result]:
            if isinstance(check, dict) and check.get("name") and check.get("passed", True):
                names.append(str(check["name"]))
    return ", ".join(dict.fromkeys(names))


def _versions(versions: dict[str, int]) -> str:
    return ", ".join(f"{count} from {version}" for version, count in versions.items()) or "-"


def _took(rollout: dict[str, Any]) -> str:
    started = rollout.get("created_at")
    ended = rollout.get("finished_at") or rollout.get("updated_at")
    if not started or not ended:
        return "a few seconds"
    seconds = (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()
    return f"{seconds:.1f}s"
