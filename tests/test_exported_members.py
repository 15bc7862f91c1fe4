"""Every package's façade names its public API in a sorted ``__all__``: everything the
package defines and exposes is listed, and everything listed exists."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import andon

SUBPACKAGES = sorted(
    info.name
    for info in pkgutil.walk_packages(andon.__path__, prefix="andon.")
    if info.ispkg and "migrations" not in info.name
)
PACKAGES = ["andon", *SUBPACKAGES]


def _public_members(package: ModuleType) -> set[str]:
    members = set()
    for name, value in vars(package).items():
        if name.startswith("_") or isinstance(value, ModuleType) or name == "annotations":
            continue
        home = getattr(value, "__module__", package.__name__) or ""
        # Names re-exported from elsewhere in Andon belong to their own package's façade.
        if home == package.__name__ or home.startswith(f"{package.__name__}."):
            members.add(name)
    return members


def _isort_style(name: str) -> tuple[int, str]:
    """Ruff's order (RUF022): CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_complete(name: str) -> None:
    package = importlib.import_module(name)
    exported = list(getattr(package, "__all__", []))
    assert exported == sorted(exported, key=_isort_style), f"{name}.__all__ is not sorted"
    assert all(hasattr(package, member) for member in exported)
    missing = _public_members(package) - set(exported)
    assert not missing, f"{name} exposes {sorted(missing)} without listing them in __all__"
