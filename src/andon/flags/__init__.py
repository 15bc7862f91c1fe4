"""Feature flags: the flagd flag set, compiled once and evaluated purely.

:meth:`FlagSet.from_document` (a flagd document) or :meth:`FlagSet.from_spec` (the
``flags`` section of andon.yaml) compiles every targeting rule into closures;
:meth:`FlagSet.evaluate` and the typed ``resolve_*`` helpers answer a
:class:`Resolution` (value, variant, :class:`Reason`, :class:`ErrorCode`) and never raise.
A malformed flag set raises :class:`FlagSetError` on load, naming every problem.

:class:`FlagClient` (``andon.flags.client``) is the SDK a service runs: the flag set of
its environment, evaluated locally and kept current over the server's stream.
``andon.flags.openfeature.AndonProvider`` plugs it into openfeature-sdk.

This façade stays light to import: services load the flag SDK from here, without
pydantic or the server.
"""

from __future__ import annotations

import importlib
import typing
from typing import Any

from andon.flags.evaluating import Context, FlagSet
from andon.flags.loading import FlagSetError
from andon.flags.resolutions import ErrorCode, FlagType, Reason, Resolution

if typing.TYPE_CHECKING:
    from andon.flags.client import FlagClient

# The client is imported when first used: it brings httpx and threads, which the
# server's own use of the evaluator (OFREP) does not need.
_HOMES = {"FlagClient": "client"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


__all__ = [
    "Context",
    "ErrorCode",
    "FlagClient",
    "FlagSet",
    "FlagSetError",
    "FlagType",
    "Reason",
    "Resolution",
]
