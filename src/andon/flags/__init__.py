"""Feature flags: the flagd flag set, compiled once and evaluated purely.

:meth:`FlagSet.from_document` (a flagd document) or :meth:`FlagSet.from_spec` (the
``flags`` section of andon.yaml) compiles every targeting rule into closures;
:meth:`FlagSet.evaluate` and the typed ``resolve_*`` helpers answer a
:class:`Resolution` (value, variant, :class:`Reason`, :class:`ErrorCode`) and never raise.
A malformed flag set raises :class:`FlagSetError` on load, naming every problem.

This façade stays light to import: services load the flag SDK from here, without
pydantic or the server.
"""

from andon.flags.evaluating import Context, FlagSet
from andon.flags.loading import FlagSetError
from andon.flags.resolutions import ErrorCode, FlagType, Reason, Resolution

__all__ = [
    "Context",
    "ErrorCode",
    "FlagSet",
    "FlagSetError",
    "FlagType",
    "Reason",
    "Resolution",
]
