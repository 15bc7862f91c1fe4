"""Configuration loading, validation, and the Jinja2 template the platform renders."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from shop.config import (
    Config,
    ConfigError,
    FaultConfig,
    load_config,
    parse_config,
    resolve_config,
)

SHOP_ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_default_file_means_builtin_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = resolve_config(None, environ={})
    assert config == Config()
    assert config.database_path == Path("shop.db")
    assert config.faults == FaultConfig(0.0, 0, False)


def test_default_file_is_used_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    write(tmp_path / "config" / "shop.toml", '[shop]\nname = "Default File"\n')
    assert resolve_config(None, environ={}).name == "Default File"


def test_cli_path_beats_environment(tmp_path: Path) -> None:
    cli = write(tmp_path / "cli.toml", '[shop]\nname = "From CLI"\n')
    env = write(tmp_path / "env.toml", '[shop]\nname = "From env"\n')
    assert resolve_config(str(cli), environ={"SHOP_CONFIG": str(env)}).name == "From CLI"
    assert resolve_config(None, environ={"SHOP_CONFIG": str(env)}).name == "From env"


def test_an_explicitly_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        resolve_config(str(tmp_path / "typo.toml"), environ={})


def test_full_config_is_loaded(tmp_path: Path) -> None:
    path = write(
        tmp_path / "shop.toml",
        """
        [shop]
        name = "Staging Shop"
        [database]
        path = "/var/lib/shop/shop.db"
        [faults]
        checkout_error_rate = 0.25
        added_latency_ms = 150
        drop_orders = true
        [features]
        new_checkout = false
        dark_mode = true
        """,
    )
    config = load_config(path)
    assert config.name == "Staging Shop"
    assert config.database_path == Path("/var/lib/shop/shop.db")
    assert config.faults == FaultConfig(0.25, 150, True)
    assert dict(config.features) == {"new_checkout": False, "dark_mode": True}


def test_config_is_immutable() -> None:
    config = parse_config({"features": {"new_checkout": True}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.name = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.features["new_checkout"] = False  # type: ignore[index]


def test_integer_rate_is_accepted() -> None:
    assert parse_config({"faults": {"checkout_error_rate": 1}}).faults.checkout_error_rate == 1.0


def test_order_drop_rate_is_read_beside_drop_orders() -> None:
    faults = parse_config({"faults": {"order_drop_rate": 0.3, "drop_orders": False}}).faults
    assert faults == FaultConfig(order_drop_rate=0.3)
    assert parse_config({"faults": {"order_drop_rate": 1}}).faults.order_drop_rate == 1.0
    assert parse_config({}).faults.order_drop_rate == 0.0


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[faults]\ncheckout_error_rate = 1.5", "checkout_error_rate must be a number from 0 to 1"),
        (
            "[faults]\ncheckout_error_rate = -0.1",
            "checkout_error_rate must be a number from 0 to 1",
        ),
        (
            "[faults]\ncheckout_error_rate = true",
            "checkout_error_rate must be a number from 0 to 1",
        ),
        ("[faults]\ncheckout_error_rate = nan", "checkout_error_rate must be a number from 0 to 1"),
        ("[faults]\nadded_latency_ms = -1", "added_latency_ms must be an integer from 0 to"),
        ("[faults]\nadded_latency_ms = 1.5", "added_latency_ms must be an integer from 0 to"),
        ('[faults]\ndrop_orders = "yes"', "drop_orders must be true or false"),
        ("[faults]\norder_drop_rate = 1.3", "order_drop_rate must be a number from 0 to 1"),
        ("[faults]\norder_drop_rate = false", "order_drop_rate must be a number from 0 to 1"),
        ('[faults]\norder_drop_rate = "30%"', "order_drop_rate must be a number from 0 to 1"),
        ("[faults]\ncheckout_eror_rate = 0.1", "unknown key 'checkout_eror_rate' in [faults]"),
        ("[shopp]\nname = 'x'", "unknown table [shopp]"),
        ("faults = 3", "[faults] must be a table"),
        ("[features]\nnew_checkout = 1", "[features] new_checkout must be true or false"),
        ('[shop]\nname = ""', "[shop] name must be a non-empty string"),
        ("[database]\npath = 3", "[database] path must be a non-empty string"),
        ("[shop]\nname = ", "invalid TOML"),
    ],
)
def test_invalid_config_is_refused_with_one_line(tmp_path: Path, toml: str, message: str) -> None:
    path = write(tmp_path / "bad.toml", toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert message in text
    assert text.startswith(str(path))
    assert "\n" not in text


@pytest.mark.parametrize("module", ["shop", "shop.migrate", "shop.seed"])
def test_commands_exit_2_on_invalid_config(tmp_path: Path, module: str) -> None:
    bad = write(tmp_path / "bad.toml", "[faults]\ncheckout_error_rate = 2\n")
    result = subprocess.run(
        [sys.executable, "-m", module, "--config", str(bad)],
        cwd=SHOP_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "checkout_error_rate must be a number from 0 to 1" in lines[0]
