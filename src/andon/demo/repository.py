"""The demo's git repository: a copy of the example shop (``examples/shop``) committed on
``main``, its andon.yaml made quick, and the commits the story makes — a change that
goes down the line, a defect its tests miss and the fix, a broken test and its revert,
a teammate's branch.

:func:`quick_spec` is pure (the unit tests check that its result validates); the
:class:`ShopRepository` runs git with an identity and configuration of its own, so that
neither the user's git settings (signing, hooks) nor a machine without a git identity
can get in the way.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import andon
from andon.demo.failures import DemoError

QUICK_STEPS = """  steps:
    - weight: 20%
    - analysis: {duration: 5s}
    - weight: 50%
    - analysis: {metrics: [errors], duration: 3s}
    - weight: 100%
"""
"""A canary that takes seconds: a fifth of the traffic judged for 5s, then half judged on
errors for 3s, then all (with a duration, a comparison that shows no harm by then
passes; latency needs more of the old version's traffic than a half leaves in 3s)."""

_GUARD = """  # Andon's own: new-checkout pays through the payments service, and falls back to off
  # by itself while the service does not answer; it is compared with off on checkouts.
  guards:
    new-checkout:
      - dependency: {{tcp: "{payments}"}}
        failures: 2
        interval: 500ms
        fallback: off
"""
"""The new checkout pays through the payments service: without it, it serves off."""

_QUICK_VALUES = (
    ("    interval: 5s\n    min_samples: 200\n", "    interval: 1s\n    min_samples: 30\n"),
    ("  finalize_delay: 30s", "  finalize_delay: 2s"),
    ("    scale_down_delay: 10m", "    scale_down_delay: 2s"),
    ("    wait: 5s\n", "    wait: 1s\n"),
    # A failing test fails at once: the demo's tests are not flaky.
    ("    retries: 1\n", "    retries: 0\n"),
)


def quick_spec(text: str, payments: str) -> str:
    """The shop's andon.yaml with rollouts that take seconds rather than minutes, and the
    ``new-checkout`` flag guarded by the payments service at ``payments`` (host:port)
    instead of by the router's error rate. No side effects; DemoError when the text is
    not the shop's as expected (an edit that finds nothing would make a slow demo)."""
    steps = re.compile(r"  steps:\n(    - .*\n)+")
    guards = re.compile(r"(  #.*\n)*  guards:\n(    .*\n)+")
    if not steps.search(text) or not guards.search(text):
        raise DemoError(_CHANGED)
    text = steps.sub(QUICK_STEPS, text, count=1)
    text = guards.sub(_GUARD.format(payments=payments), text, count=1)
    for old, new in _QUICK_VALUES:
        if old not in text:
            raise DemoError(_CHANGED)
        text = text.replace(old, new)
    return text


_CHANGED = (
    "the example shop's andon.yaml is not as the demo expects (its release steps, analysis, "
    "delays or flag guards changed); update andon.demo.repository to match."
)

Change = Callable[[str], str]
"""Changes the text of one file."""


@dataclass(frozen=True)
class Commit:
    """A change the story commits: a message and what it does to which files."""

    message: str
    changes: dict[str, Change]


def _insert_after(anchor: str, addition: str) -> Change:
    def change(text: str) -> str:
        if anchor not in text:
            raise DemoError(
                f"the example shop's code no longer has {anchor.strip()!r}, which a commit of "
                "the demo changes; update andon.demo.repository to match."
            )
        return text.replace(anchor, anchor + addition, 1)

    return change


def _remove(addition: str) -> Change:
    return lambda text: text.replace(addition, "", 1)


TAGLINE = '<p class="muted">Signal lamps, kanban cards and all a line needs.</p>\n'
_TITLE = "<h1>{title}</h1>\n"
_ITEM_ADDED = '            cart = store.add_item(conn, params["cart_id"], sku, quantity)\n'
BIG_CART = """            if len(cart.lines) >= 3:
                # Big carts ship free: mark them for the warehouse.
                conn.execute("UPDATE carts SET free_shipping = 1 WHERE id = ?", (cart.id,))
"""
"""The defect: the carts table has no such column, so adding a third product fails. The
unit tests and the smoke test never put three products in one cart."""
BIG_CART_FIXED = """            if len(cart.lines) >= 3:
                # Big carts ship free: the warehouse reads it in the log.
                logger.info("cart %s ships free: %d products", cart.id, len(cart.lines))
"""
BROKEN_TEST = """

def test_gift_wrap_is_added_to_the_cart_total() -> None:
    assert 1400 + 250 == 1400, "gift wrap is not priced yet"
"""

TAGLINE_COMMIT = Commit(
    "Say on the front page what the shop sells",
    {"shop/pages.py": _insert_after(_TITLE, TAGLINE)},
)
DEFECT_COMMIT = Commit(
    "Big carts ship free",
    {"shop/app.py": _insert_after(_ITEM_ADDED, BIG_CART)},
)
FIX_COMMIT = Commit(
    "Big carts ship free, without a column the carts table does not have",
    {"shop/app.py": lambda text: text.replace(BIG_CART, BIG_CART_FIXED, 1)},
)
BROKEN_TEST_COMMIT = Commit(
    "Price gift wrap (test first)",
    {"tests/test_shop_api.py": lambda text: text + BROKEN_TEST},
)
TEST_REVERT_COMMIT = Commit(
    "Revert 'Price gift wrap (test first)': trunk must stay green",
    {"tests/test_shop_api.py": _remove(BROKEN_TEST)},
)
BRANCH_COMMIT = Commit(
    "Tell customers the catalog's currency",
    {"shop/pages.py": _insert_after(TAGLINE, '<p class="muted">Prices in euros.</p>\n')},
)

_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Kim (Andon demo)",
    "GIT_AUTHOR_EMAIL": "kim@andon-shop.example",
    "GIT_COMMITTER_NAME": "Kim (Andon demo)",
    "GIT_COMMITTER_EMAIL": "kim@andon-shop.example",
    # Neither the machine's nor the user's git settings (signing, hooks, templates).
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}
_COPY_IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.db", "*.db-*", ".*cache", ".hypothesis", "vendor", "reports", "*.pyc"
)


def find_shop() -> Path:
    """The example shop of this checkout of Andon; DemoError when it is not there (an
    installation from a wheel has no examples)."""
    candidates = [
        Path(andon.__file__).resolve().parents[2] / "examples" / "shop",
        Path.cwd() / "examples" / "shop",
    ]
    for candidate in candidates:
        if (candidate / "andon.yaml").is_file():
            return candidate
    raise DemoError(
        f"the demo needs the example shop, which is not at {candidates[0]}; run it from a "
        "clone of Andon installed with 'pip install -e .'."
    )


class ShopRepository:
    """A git repository holding the shop at its root, trunk ``main``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, path: Path, shop: Path, payments: str) -> ShopRepository:
        """Copy ``shop`` to ``path`` with its andon.yaml made quick and guarded by the
        payments service at ``payments``, and commit it on ``main``."""
        shutil.copytree(shop, path, ignore=_COPY_IGNORED)
        spec = path / "andon.yaml"
        spec.write_text(quick_spec(spec.read_text("utf-8"), payments), "utf-8")
        repository = cls(path)
        repository.git("init", "-q", "-b", "main")
        repository.git("add", "-A")
        repository.git("commit", "-qm", "Import the shop")
        return repository

    def git(self, *args: str) -> str:
        """Run git here; its output, stripped. DemoError with git's own words on failure."""
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=self.path,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env={**os.environ, **_GIT_IDENTITY},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DemoError(f"git {args[0]} could not run: {exc}") from exc
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise DemoError(f"git {args[0]} failed: {said[-1] if said else done.returncode}")
        return done.stdout.strip()

    def commit(self, change: Commit) -> str:
        """Make ``change`` on the branch checked out; its commit."""
        for name, edit in change.changes.items():
            target = self.path / name
            target.write_text(edit(target.read_text("utf-8")), "utf-8")
        self.git("commit", "-qam", change.message)
        return self.head()

    def head(self) -> str:
        """The commit checked out."""
        return self.git("rev-parse", "HEAD")

    def branch_from(self, name: str, start: str, change: Commit) -> str:
        """Commit ``change`` on a new branch ``name`` from ``start``, then go back to
        ``main``; the branch's commit."""
        self.git("checkout", "-qb", name, start)
        try:
            return self.commit(change)
        finally:
            self.git("checkout", "-q", "main")
