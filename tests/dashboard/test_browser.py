"""The dashboard in a real browser (Playwright driving Debian's chromium) against a whole
Andon — server, agent, router and the example shop as processes — walking one commit
through a full deployment on the value-stream board: signed in with the admin's token,
the commit's pipeline turns green on the board without a reload, the commit goes to
test by itself, to staging, and to prod by canary; the admin cannot approve their own
rollout, a second user approves it in a second browser and promotes it; a flag flipped
in the browser releases it; the line's banner turns red when the cord is pulled. Each
step leaves a screenshot in the test artifacts (``ANDON_TEST_ARTIFACTS``, else
``test-artifacts/dashboard`` of the repository).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from andon.testing import git
from andon.testing.customers import Customers
from andon.testing.stacks import Stack, wait_for

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
RELEASE = """release:
  strategy: canary
  steps:
    - weight: 50%
    - analysis: {metrics: [errors], duration: 3s}
    - pause: {}
  analysis:
    interval: 1s
    min_samples: 20
    failure_limit: 1
    metrics:
      - name: errors
        provider: router
        query: error_rate
        threshold: {max: 5%}
  finalize_delay: 1s
"""
"""A canary of seconds: half the traffic, three seconds judged on errors, then a pause
that a person ends with Promote."""


def quick(text: str) -> str:
    """The shop's andon.yaml with :data:`RELEASE` instead of its slow release section."""
    head, _, rest = text.partition("release:\n")
    _, _, tail = rest.partition("\n# Feature flags")
    return f"{head}{RELEASE}\n# Feature flags{tail}"


def new_name(shop: Path) -> None:
    """A release of the shop under a new name. Its config template changes too: an
    artifact is content-addressed, and one of the same files is the same release."""
    spec = shop / "andon.yaml"
    spec.write_text(
        spec.read_text().replace("shop_name: Andon Shop\n", "shop_name: Andon Shop II\n")
    )
    template = shop / "config" / "shop.toml.j2"
    template.write_text(template.read_text() + "# Renamed to Andon Shop II.\n")


def artifacts_dir() -> Path:
    base = os.environ.get("ANDON_TEST_ARTIFACTS")
    path = Path(base) / "dashboard" if base else ROOT / "test-artifacts" / "dashboard"
    path.mkdir(parents=True, exist_ok=True)
    return path


def chromium_path() -> str:
    """Debian's chromium; the test fails (never skips) without it, saying how to get it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the dashboard's browser test drives Debian's chromium; "
            "install it with 'apt-get install -y chromium' (.ci/run does)."
        )
    return str(CHROMIUM)


def second_user(stack: Stack, name: str) -> str:
    """A deployer ``name`` and their token, made as an admin would with the CLI."""
    stack.ok("user", "add", name, "--role", "deployer")
    made = stack.ok("token", "create", "--user", name, "--name", "dashboard", "--quiet")
    token = made.stdout.strip().splitlines()[-1].strip()
    assert re.fullmatch(r"andon_[A-Za-z0-9_-]{40,}", token), made.stdout
    return token


class Shots:
    """Numbered screenshots of each step, kept as test artifacts."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0
        for old in directory.glob("*.png"):
            old.unlink()

    def __call__(self, page: Any, name: str) -> None:
        self.count += 1
        page.screenshot(path=str(self.directory / f"{self.count:02d}-{name}.png"), full_page=True)


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - the browser tier only

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


def signed_in(chromium: Any, base: str, token: str, errors: list[str]) -> Any:
    """A page of a new browser context (its own cookies), signed in with ``token``; the
    errors its console shows (a refused script or style, a failed request) go to
    ``errors``, but for the refusal the test provokes on purpose (403)."""

    def noted(text: str) -> None:
        if "status of 403" not in text:
            errors.append(text)

    context = chromium.new_context(base_url=base, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and noted(message.text))
    page.goto("/")
    assert page.url.startswith(f"{base}/signin")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
    return page


def stage(page: Any, commit: str, name: str) -> str:
    """The state of a commit's stage on the board."""
    cell = page.locator(f'tr[data-commit="{commit}"] td[data-stage="{name}"]')
    return str(cell.get_attribute("data-state", timeout=1000) or "")


def wait_stage(page: Any, commit: str, name: str, timeout: float) -> None:
    selector = f'tr[data-commit="{commit}"] td[data-stage="{name}"][data-state="done"]'
    page.wait_for_selector(selector, timeout=timeout * 1000)


def statuses(stack: Stack, *names: str) -> dict[str, Any]:
    return {name: stack.environment(name).get("status") for name in names}


def test_a_missing_chromium_fails_saying_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "chromium")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        chromium_path()


@pytest.mark.e2e
# With the pipeline story, one after the other on one worker (see tests/e2e).
@pytest.mark.xdist_group("stories-b")
@pytest.mark.timeout(240)
def test_the_board_follows_a_commit_from_its_pipeline_to_its_release(
    make_stack: Callable[..., Stack],
) -> None:
    started = time.monotonic()
    chromium_path()  # before the stack: a missing browser fails at once
    shots = Shots(artifacts_dir())
    stack = make_stack(quick, backoff=0.5)
    base = f"http://127.0.0.1:{stack.port}"
    admin = (stack.home / "token").read_text().strip()
    bob = second_user(stack, "bob")
    # The environments come up (from the first commit) while the browser signs in.
    for name in ("test", "staging", "prod"):
        stack.ok("env", "up", name)  # without --wait: it goes on in the background
    errors: list[str] = []
    with browser() as chromium:
        page = signed_in(chromium, base, admin, errors)
        page.wait_for_selector("[data-line=running]")
        shots(page, "board-signed-in")

        # A commit on trunk: its row appears and its pipeline turns green, live.
        page.evaluate("window.andonNotReloaded = true")
        new_name(stack.repo / "examples" / "shop")
        git(stack.repo, "commit", "-qam", "a new name")
        commit = git(stack.repo, "rev-parse", "HEAD")
        page.wait_for_selector(f'tr[data-commit="{commit}"]', timeout=30_000)
        shots(page, "commit-on-the-board")
        wait_stage(page, commit, "pipeline", timeout=60)
        wait_stage(page, commit, "artifact", timeout=30)
        assert page.evaluate("window.andonNotReloaded") is True, "the page was reloaded"
        shots(page, "pipeline-green")
        page.locator(f'tr[data-commit="{commit}"] th a').click()
        page.wait_for_selector("[data-pipeline-status=success]")
        shots(page, "pipeline-page")

        # test deploys it by itself (auto_deploy); staging by a deploy.
        page.goto("/")
        up = ("test", "staging", "prod")
        wait_for(
            "the environments to be up",
            lambda: set(statuses(stack, *up).values()) == {"ready"},
            120,
            state=lambda: statuses(stack, *up),
        )
        wait_stage(page, commit, "test", timeout=60)
        stack.ok("deploy", "staging", "--commit", commit)
        wait_stage(page, commit, "staging", timeout=60)
        shots(page, "in-test-and-staging")

        # prod is protected: the admin asks for it and may not approve it.
        stack.ok("deploy", "prod", "--commit", commit)
        page.goto("/projects/shop/environments/prod")
        page.wait_for_selector("[data-awaiting-approval]")
        shots(page, "prod-awaiting-approval")
        page.get_by_role("button", name="Approve").click()
        refusal = page.locator("[data-error]")
        assert "admin asked for rollout" in refusal.inner_text()
        assert "cannot approve it too" in refusal.inner_text()
        shots(page, "self-approval-refused")

        # A second person approves it in their own browser, and promotes it.
        other = signed_in(chromium, base, bob, errors)
        assert other.locator("[data-user]").inner_text() == "bob"
        other.goto("/projects/shop/environments/prod")
        with Customers(stack.environment("prod")["url"]) as customers:
            other.get_by_role("button", name="Approve").click()
            assert "You approved rollout" in other.locator("[data-flash]").inner_text()
            other.wait_for_selector("[data-rollout-status=paused]", timeout=60_000)
            other.wait_for_selector("[data-metric=errors] svg")
            shots(other, "canary-paused-with-analysis")
            other.get_by_role("button", name="Promote (next step)").click()
            other.wait_for_selector("[data-rollout-status=succeeded]", timeout=60_000)
        assert customers.answers and customers.failed() == []
        shots(other, "prod-rollout-succeeded")
        page.goto("/")
        wait_stage(page, commit, "prod", timeout=30)

        # A flag flipped in the browser releases it.
        other.goto("/projects/shop/environments/prod/flags")
        banner = other.locator("[data-flag=checkout-banner]")
        banner.get_by_role("button", name="Turn on").click()
        assert "turned on" in other.locator("[data-flash]").inner_text()
        banner.get_by_label("Serve to everyone").select_option("sale")
        banner.get_by_role("button", name="Serve").click()
        assert "sale" in banner.locator("[data-flag-serves]").inner_text()
        shots(other, "flag-flipped")
        evaluated = stack.api.post(
            "/projects/shop/environments/prod/flags/checkout-banner/evaluate", json={}
        ).json()
        assert evaluated["value"] == "Winter sale: 20% off everything", evaluated

        # The board shows the whole way, each stage with its times.
        page.goto("/")
        wait_stage(page, commit, "release", timeout=15)
        row = page.locator(f'tr[data-commit="{commit}"]')
        for name in ("pipeline", "artifact", "test", "staging", "prod", "release"):
            assert stage(page, commit, name) == "done", name
            cell = row.locator(f'td[data-stage="{name}"]').inner_text()
            assert re.search(r"work \S+ · wait \S+", cell), (name, cell)
        assert "checkout-banner by bob" in row.inner_text()
        shots(page, "board-released")

        # Pulling the cord turns everyone's banner red, with cause, owner and duration.
        stopped = stack.api.post("/projects/shop/line/stop", json={"reason": "checkout is down"})
        assert stopped.status_code == 200, stopped.text
        page.wait_for_selector("[data-line=stopped]", timeout=15_000)
        banner_text = page.locator("[data-line=stopped]").inner_text()
        assert "checkout is down" in banner_text and "Owner: admin" in banner_text
        assert "Stopped for" in banner_text
        shots(page, "line-stopped")
        stack.api.post("/projects/shop/line/resume", json={})
        page.wait_for_selector("[data-line=running]", timeout=15_000)
        for context in chromium.contexts:
            context.close()
    assert errors == [], errors
    print(f"browser test: {time.monotonic() - started:.1f}s, screenshots in {shots.directory}")
