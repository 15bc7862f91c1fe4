"""Shop configuration: a TOML file loaded into frozen dataclasses.

The platform renders ``config/shop.toml.j2`` into a TOML file per environment
and points the shop at it. Every command (server, migrate, seed) finds the file
the same way:

1. ``--config PATH`` on the command line, else
2. the ``SHOP_CONFIG`` environment variable, else
3. ``config/shop.toml`` relative to the working directory.

Only the default location may be absent (then built-in defaults apply, with the
database at ``./shop.db``); a path someone named explicitly must exist, because
silently running on defaults after a typo would hide the mistake.

Validation is strict: unknown tables or keys and wrong types are errors. A
misspelt fault knob that was silently ignored would make a fault-injection
experiment look like a pass.
"""

from __future__ import annotations

import math
import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

DEFAULT_CONFIG_PATH = Path("config/shop.toml")
CONFIG_ENV_VAR = "SHOP_CONFIG"
MAX_ADDED_LATENCY_MS = 60_000


class ConfigError(Exception):
    """The configuration is unreadable or invalid; the message is one line."""


@dataclass(frozen=True)
class FaultConfig:
    """Deliberate defects, off by default, that let the platform rehearse failure."""

    # Fraction (0..1) of POST /checkout requests that answer 500.
    checkout_error_rate: float = 0.0
    # Milliseconds added to every request except /healthz and /metrics.
    added_latency_ms: int = 0
    # Checkout answers 201 but the order is never stored: a defect that only
    # business metrics (shop_orders_total) reveal, not status codes.
    drop_orders: bool = False
    # Fraction (0..1) of checkouts that answer 201 but store and count no order:
    # drop_orders for a share of them, so orders per checkout fall by that much.
    order_drop_rate: float = 0.0

    def active(self) -> dict[str, float | int | bool]:
        """The knobs that differ from their harmless defaults, for logging."""
        knobs: dict[str, float | int | bool] = {}
        if self.checkout_error_rate:
            knobs["checkout_error_rate"] = self.checkout_error_rate
        if self.added_latency_ms:
            knobs["added_latency_ms"] = self.added_latency_ms
        if self.drop_orders:
            knobs["drop_orders"] = True
        if self.order_drop_rate:
            knobs["order_drop_rate"] = self.order_drop_rate
        return knobs


def _no_features() -> Mapping[str, bool]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Config:
    """Everything the shop needs to know about its environment."""

    name: str = "Andon Shop"
    # Relative paths are relative to the working directory of the process.
    database_path: Path = Path("shop.db")
    faults: FaultConfig = field(default_factory=FaultConfig)
    # Feature flags are passed through untouched; a read-only mapping keeps the
    # dataclass honestly immutable.
    features: Mapping[str, bool] = field(default_factory=_no_features)


_KNOWN_KEYS: dict[str, frozenset[str]] = {
    "shop": frozenset({"name"}),
    "database": frozenset({"path"}),
    "faults": frozenset(
        {"checkout_error_rate", "added_latency_ms", "drop_orders", "order_drop_rate"}
    ),
}


def parse_config(data: Mapping[str, Any]) -> Config:
    """Build a Config from parsed TOML, raising ConfigError on the first problem."""
    unknown = sorted(set(data) - set(_KNOWN_KEYS) - {"features"})
    if unknown:
        raise ConfigError(
            f"unknown table [{unknown[0]}]; expected [shop], [database], [faults] or [features]"
        )
    shop = _table(data, "shop")
    database = _table(data, "database")
    faults = _table(data, "faults")
    features = _table(data, "features")

    defaults = Config()
    name = shop.get("name", defaults.name)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"[shop] name must be a non-empty string, got {name!r}")
    path = database.get("path", str(defaults.database_path))
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"[database] path must be a non-empty string, got {path!r}")

    rate = _fraction(faults, "checkout_error_rate")
    latency = faults.get("added_latency_ms", 0)
    if (
        isinstance(latency, bool)
        or not isinstance(latency, int)
        or not 0 <= latency <= MAX_ADDED_LATENCY_MS
    ):
        raise ConfigError(
            f"[faults] added_latency_ms must be an integer from 0 to {MAX_ADDED_LATENCY_MS}, "
            f"got {latency!r}"
        )
    drop = faults.get("drop_orders", False)
    if not isinstance(drop, bool):
        raise ConfigError(f"[faults] drop_orders must be true or false, got {drop!r}")
    drop_rate = _fraction(faults, "order_drop_rate")

    for flag, value in features.items():
        if not isinstance(value, bool):
            raise ConfigError(f"[features] {flag} must be true or false, got {value!r}")

    return Config(
        name=name.strip(),
        database_path=Path(path),
        faults=FaultConfig(
            checkout_error_rate=rate,
            added_latency_ms=latency,
            drop_orders=drop,
            order_drop_rate=drop_rate,
        ),
        features=MappingProxyType(dict(features)),
    )


def _fraction(faults: Mapping[str, Any], key: str) -> float:
    """The knob ``key`` of [faults] as a fraction from 0 to 1 (0 when absent)."""
    value = faults.get(key, 0.0)
    # bool is a subclass of int, so it is excluded explicitly: `true` is not a rate.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or math.isnan(value)
        or not 0 <= value <= 1
    ):
        raise ConfigError(f"[faults] {key} must be a number from 0 to 1, got {value!r}")
    return float(value)


def _table(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """Return table `name` (empty if absent), rejecting non-tables and unknown keys."""
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] must be a table, got {table!r}")
    known = _KNOWN_KEYS.get(name)
    if known is not None:
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(
                f"unknown key {unknown[0]!r} in [{name}]; expected one of: "
                + ", ".join(sorted(known))
            )
    return table


def load_config(path: Path) -> Config:
    """Read and validate one TOML file; errors name the file."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: invalid TOML: the file is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    try:
        return parse_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def resolve_config(cli_path: str | None, environ: Mapping[str, str] = os.environ) -> Config:
    """Find the config file as described in the module docstring and load it."""
    explicit = cli_path or environ.get(CONFIG_ENV_VAR)
    if explicit:
        return load_config(Path(explicit))
    if DEFAULT_CONFIG_PATH.exists():
        return load_config(DEFAULT_CONFIG_PATH)
    return Config()


def load_or_exit(cli_path: str | None, prog: str = "shop") -> Config:
    """For command-line entry points: load the config or exit 2 with one line."""
    try:
        return resolve_config(cli_path)
    except ConfigError as exc:
        _exit_with_config_error(prog, exc)


def _exit_with_config_error(prog: str, exc: ConfigError) -> NoReturn:
    # A one-line message and no traceback: this is an operator mistake, not a bug.
    print(f"{prog}: config error: {exc}", file=sys.stderr)
    raise SystemExit(2)
