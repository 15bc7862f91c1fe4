"""The demo's repository: the shop's andon.yaml made quick still validates, says what the
demo changed, and refuses a shop it does not recognise; the story's commits apply to the
shop as it is, and a real git repository takes them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from andon.demo import DemoError, find_shop, quick_spec
from andon.demo.repository import (
    BIG_CART,
    BIG_CART_FIXED,
    BRANCH_COMMIT,
    BROKEN_TEST_COMMIT,
    DEFECT_COMMIT,
    FIX_COMMIT,
    TAGLINE_COMMIT,
    TEST_REVERT_COMMIT,
    Commit,
    ShopRepository,
)
from andon.spec import load_spec

SHOP = find_shop()


def quick_copy(tmp_path: Path) -> Path:
    """The example shop copied, with its andon.yaml made quick."""
    copy = tmp_path / "shop"
    shutil.copytree(SHOP, copy, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    spec = copy / "andon.yaml"
    spec.write_text(quick_spec(spec.read_text(), "127.0.0.1:4242"))
    return copy


def apply(change: Commit, shop: Path = SHOP) -> dict[str, str]:
    return {name: edit((shop / name).read_text()) for name, edit in change.changes.items()}


def test_the_quick_spec_validates_with_the_shop_beside_it(tmp_path: Path) -> None:
    spec = load_spec(quick_copy(tmp_path) / "andon.yaml")
    release = spec.release
    assert [step.kind for step in release.steps] == [
        "weight",
        "analysis",
        "weight",
        "analysis",
        "weight",
    ]
    assert release.analysis.interval.total_seconds() == 1
    assert release.finalize_delay.total_seconds() == 2


def test_the_quick_spec_guards_the_new_checkout_by_the_payments_service(tmp_path: Path) -> None:
    text = (quick_copy(tmp_path) / "andon.yaml").read_text()
    assert 'dependency: {tcp: "127.0.0.1:4242"}' in text
    assert "provider: router, query: error_rate, max: 2%" not in text
    assert "retries: 0" in text


def test_a_shop_whose_andon_yaml_changed_is_refused_with_what_to_do() -> None:
    with pytest.raises(DemoError, match=r"update andon\.demo\.repository"):
        quick_spec("version: 1\nservice: {name: shop}\n", "127.0.0.1:1")


def test_the_defect_fails_a_third_product_and_the_fix_logs_it_instead() -> None:
    defective = apply(DEFECT_COMMIT)["shop/app.py"]
    assert BIG_CART in defective and "free_shipping" in defective
    fixed = FIX_COMMIT.changes["shop/app.py"](defective)
    assert BIG_CART_FIXED in fixed and "free_shipping" not in fixed


def test_the_broken_test_is_reverted_to_the_very_same_file() -> None:
    tests = "tests/test_shop_api.py"
    broken = apply(BROKEN_TEST_COMMIT)[tests]
    assert "def test_gift_wrap_is_added_to_the_cart_total" in broken
    assert TEST_REVERT_COMMIT.changes[tests](broken) == (SHOP / tests).read_text()


def test_the_tagline_and_the_branch_change_the_front_page() -> None:
    page = apply(TAGLINE_COMMIT)["shop/pages.py"]
    assert "all a line needs" in page
    assert "Prices in euros" in BRANCH_COMMIT.changes["shop/pages.py"](page)


def test_a_repository_of_the_shop_takes_commits_and_a_branch(tmp_path: Path) -> None:
    repo = ShopRepository.create(tmp_path / "repo", SHOP, "127.0.0.1:4242")
    imported = repo.head()
    assert not (tmp_path / "repo" / "shop.db").exists()
    tagline = repo.commit(TAGLINE_COMMIT)
    branch = repo.branch_from("feature/currency", tagline, BRANCH_COMMIT)
    assert repo.git("rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert repo.head() == tagline != branch != imported
    assert repo.git("log", "--format=%s", "-1", branch) == BRANCH_COMMIT.message
    assert repo.git("log", "--format=%ae", "-1") == "kim@andon-shop.example"
