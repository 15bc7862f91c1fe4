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

import typing

from andon._lazy import lazy_members
from andon.flags.evaluating import Context, FlagSet
from andon.flags.loading import FlagSetError
from andon.flags.resolutions import ErrorCode, FlagType, Reason, Resolution

if typing.TYPE_CHECKING:
    from andon.flags.client import FlagClient

# The client is imported when first used: it brings httpx and threads, which the
# server's own use of the evaluator (OFREP) does not need.
_HOMES = {"FlagClient": "client"}


__getattr__, __dir__ = lazy_members(__name__, _HOMES)

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
