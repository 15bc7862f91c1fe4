"""The OpenFeature provider of the flag SDK: openfeature-sdk evaluates through a
:class:`~andon.flags.client.FlagClient`.

A service that speaks OpenFeature registers it once::

    from openfeature import api
    from andon.flags.client import FlagClient
    from andon.flags.openfeature import AndonProvider

    api.set_provider(AndonProvider(FlagClient(url, env="prod", token=token)))

Each resolution is the client's (local, no request), with Andon's reasons and error codes
handed on as OpenFeature's (they are the same vocabulary); the provider announces READY
when the client serves a flag set and CONFIGURATION_CHANGED, with the changed flags, at
every change; ``track`` goes to the client's batches. openfeature-sdk is optional: only
this module imports it, and ``andon.flags`` never imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import ErrorCode as OpenFeatureErrorCode
from openfeature.exception import ProviderNotReadyError
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType
from openfeature.flag_evaluation import Reason as OpenFeatureReason
from openfeature.provider import AbstractProvider, Metadata
from openfeature.track import TrackingEventDetails

from andon.flags.client import FlagClient
from andon.flags.resolutions import ErrorCode, Reason, Resolution

__all__ = ["AndonProvider"]

T = TypeVar("T")

_REASONS = {reason: OpenFeatureReason(reason.value) for reason in Reason}
_ERROR_CODES = {code: OpenFeatureErrorCode(code.value) for code in ErrorCode}


def _context(context: EvaluationContext | None) -> dict[str, Any] | None:
    """An OpenFeature evaluation context as the flag evaluator reads it: the attributes,
    with the targeting key as ``targetingKey`` (flagd's name for it)."""
    if context is None:
        return None
    attributes = dict(context.attributes)
    if context.targeting_key is not None:
        attributes["targetingKey"] = context.targeting_key
    return attributes


def _details(resolution: Resolution[T]) -> FlagResolutionDetails[T]:
    code = resolution.error_code
    return FlagResolutionDetails(
        value=resolution.value,
        error_code=_ERROR_CODES[code] if code is not None else None,
        error_message=resolution.error_message,
        reason=_REASONS[resolution.reason],
        variant=resolution.variant,
        flag_metadata=resolution.flag_metadata,
    )


class AndonProvider(AbstractProvider):
    """An openfeature-sdk provider answering from ``client``.

    ``initialize`` waits up to ``ready_timeout`` seconds for a flag set when the client
    has none yet (cache and bootstrap count), and raises PROVIDER_NOT_READY after that;
    the provider announces READY by itself once the set arrives. ``shutdown`` closes the
    client (sending what waits) unless ``close_client`` is False.
    """

    def __init__(
        self, client: FlagClient, *, ready_timeout: float = 5.0, close_client: bool = True
    ) -> None:
        super().__init__()
        self.client = client
        self._ready_timeout = ready_timeout
        self._close_client = close_client
        self._announced = False
        self._unsubscribe = client.on_change(self._changed)

    def get_metadata(self) -> Metadata:
        return Metadata(name="andon")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        if not self.client.ready and not self.client.wait_ready(self._ready_timeout):
            raise ProviderNotReadyError(
                f"the Andon flag client has no flag set after {self._ready_timeout:g} s: "
                "its server has not answered and it has no cache or bootstrap; the provider "
                "becomes ready when the server answers"
            )
        # The registry announces READY when initialize returns.
        self._announced = True

    def shutdown(self) -> None:
        self._unsubscribe()
        if self._close_client:
            self.client.close()

    def _changed(self, version: int | None, changed: frozenset[str]) -> None:
        if not self._announced:
            self._announced = True
            self.emit_provider_ready(ProviderEventDetails(message=f"flag set version {version}"))
            return
        self.emit_provider_configuration_changed(
            ProviderEventDetails(
                flags_changed=sorted(changed), message=f"flag set version {version}"
            )
        )

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        context = _context(evaluation_context)
        return _details(self.client.boolean_details(flag_key, default_value, context))

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        context = _context(evaluation_context)
        return _details(self.client.string_details(flag_key, default_value, context))

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        context = _context(evaluation_context)
        return _details(self.client.integer_details(flag_key, default_value, context))

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        context = _context(evaluation_context)
        return _details(self.client.float_details(flag_key, default_value, context))

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        context = _context(evaluation_context)
        return _details(self.client.object_details(flag_key, default_value, context))

    def track(
        self,
        tracking_event_name: str,
        evaluation_context: EvaluationContext | None = None,
        tracking_event_details: TrackingEventDetails | None = None,
    ) -> None:
        # The batch carries an event's name, key, time and value; other attributes of
        # the tracking details have no place in it.
        value = tracking_event_details.value if tracking_event_details is not None else None
        self.client.track(tracking_event_name, _context(evaluation_context), value)
