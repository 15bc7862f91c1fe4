"""The smoke test passes against a healthy shop and catches the silent defects."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from shop import smoke
from shop.config import FaultConfig
from shop.testing import RunningShop

SHOP_ROOT = Path(__file__).resolve().parents[1]


def run_smoke(url: str) -> tuple[bool, list[str]]:
    out = io.StringIO()
    ok = smoke.run(url, out=out, timeout=5)
    return ok, out.getvalue().splitlines()


@pytest.mark.e2e
def test_smoke_command_passes_against_a_healthy_shop(live_shop: RunningShop) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shop.smoke", live_shop.url],
        cwd=SHOP_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [
        "ok   healthz",
        "ok   list products",
        "ok   create cart",
        "ok   add item",
        "ok   checkout",
        "ok   read order back",
        "ok   metrics count the order",
    ]
    assert lines[-1] == f"smoke test passed against {live_shop.url}"
    assert live_shop.metrics().get("shop_orders_total") == 1


def test_smoke_fails_against_a_shop_that_drops_orders(
    shop_factory: Callable[..., RunningShop], capsys: pytest.CaptureFixture[str]
) -> None:
    shop = shop_factory(faults=FaultConfig(drop_orders=True))
    assert smoke.main([shop.url]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[4].startswith("ok   checkout")  # the defect hides behind a 201...
    assert lines[5].startswith("FAIL read order back: GET /orders/{id} answered 404")
    assert lines[6] == "skip metrics count the order: needs 'read order back'"
    assert lines[7].startswith("smoke test FAILED")


def test_smoke_fails_when_checkout_errors(shop_factory: Callable[..., RunningShop]) -> None:
    shop = shop_factory(faults=FaultConfig(checkout_error_rate=1.0))
    ok, lines = run_smoke(shop.url)
    assert not ok
    assert lines[4].startswith("FAIL checkout: POST /checkout answered 500")


def test_smoke_fails_on_an_unmigrated_shop(shop_factory: Callable[..., RunningShop]) -> None:
    shop = shop_factory(migrated=False, seeded=False)
    ok, lines = run_smoke(shop.url)
    assert not ok
    assert lines[0].startswith("FAIL healthz: GET /healthz answered 503")
    assert all(line.startswith("skip") for line in lines[1:-1])


def test_smoke_fails_when_nothing_listens() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port was free a moment ago and nothing listens on it now.
    ok, lines = run_smoke(f"http://127.0.0.1:{port}")
    assert not ok
    assert lines[0].startswith("FAIL healthz: cannot reach")


def test_smoke_rejects_a_malformed_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        smoke.main(["localhost:8080"])
    assert exited.value.code == 2
    assert "expected an http(s) URL" in capsys.readouterr().err
