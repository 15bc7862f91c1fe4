"""What several routes share: the route class that reads JSON bodies strictly, record
numbers as path parameters, durations, and how a log answers."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Annotated, Any, NoReturn

from fastapi import HTTPException, Path, Request, Response
from fastapi.routing import APIRoute

from andon.errors import UsageError
from andon.spec import parse_duration
from andon.store import MAX_ID


class JSONRoute(APIRoute):
    """A route whose JSON body must be JSON as RFC 8259 has it. Python reads NaN and
    Infinity too, which no other JSON parser does and the API's answers cannot carry (a
    flag variant of NaN would make every SDK's request of its flag set fail): they are
    refused with 422 before the route runs. Every router of the API makes these."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictJSONRequest(request.scope, request.receive))

        return strict


class _StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self._json = json.loads(body, parse_constant=_not_a_number, parse_float=_finite)
        return self._json


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999
        _not_a_number(text)
    return number


def _not_a_number(text: str) -> NoReturn:
    # An HTTPException passes FastAPI's reading of the body untouched, to the handler
    # that answers it as the one error body.
    raise HTTPException(
        422, detail=f"the request body is not valid JSON: {text} is not a finite number."
    )


RecordId = Annotated[int, Path(ge=1, le=MAX_ID, description="A record's number.")]
"""A pipeline's, rollout's, token's or freeze window's number: one the store can hold, so
that a larger one is refused (422) rather than handed to the database."""

LONGEST_SPAN = timedelta(days=36_525)
"""The longest duration a request may give (a TTL, a freeze, a token's life, how far back
to look): a century, so that now plus or minus it is always a date the server can count."""


def parse_span(text: str, what: str) -> timedelta:
    """``text`` as a duration of at most :data:`LONGEST_SPAN`; UsageError that names
    ``what`` (the option or field) otherwise."""
    try:
        span = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{what}: {exc}.") from None
    if span > LONGEST_SPAN:
        raise UsageError(f"{what}: {text!r} is longer than a century; give a shorter duration.")
    return span


LOG_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The log as text, or with follow=true as Server-Sent Events.",
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "text/event-stream": {"schema": {"type": "string"}},
        },
    }
}
"""How a log route answers. Its ``response_class`` is the plain ``Response``, which names
no media type: FastAPI would otherwise describe its errors as text too."""
