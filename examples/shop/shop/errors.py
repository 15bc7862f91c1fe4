"""Errors that become HTTP error responses.

Route handlers and the store raise these; the application turns them into a
JSON body ``{"error": "<message>"}`` with the status code of the class. Any
other exception is a bug and becomes a 500 with a generic message (the details
go to the log, not to the client).
"""

from __future__ import annotations

from collections.abc import Sequence


class ShopError(Exception):
    """Base class: an error with a status code and a sentence for the client."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequestError(ShopError):
    status = 400


class NotFoundError(ShopError):
    status = 404


class MethodNotAllowedError(ShopError):
    status = 405

    def __init__(self, message: str, allowed: Sequence[str]) -> None:
        super().__init__(message)
        # Sent back in the Allow header, as RFC 9110 requires for a 405.
        self.allowed = tuple(allowed)


class ConflictError(ShopError):
    status = 409


class PayloadTooLargeError(ShopError):
    status = 413


class InjectedFaultError(ShopError):
    """A failure produced on purpose by the fault-injection knobs."""

    status = 500
