"""Lazy façades (PEP 562): a package lists its public members in ``__all__`` but imports
each one's module only when it is first used, so that what imports the package for one
light member (a router worker, a service using the flag SDK) does not pay for the heavy
ones. ``andon.agent`` and ``andon.flags`` use it."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_members(
    package: str, homes: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose member ``name`` lives in
    its submodule ``homes[name]``; a member once imported stays in the package."""
    namespace = vars(sys.modules[package])

    def member(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        namespace[name] = value
        return value

    def listing() -> list[str]:
        return sorted({*namespace, *homes})

    return member, listing
