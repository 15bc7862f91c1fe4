"""A metric judged by someone else's service: Andon POSTs the run to a webhook, which
answers pass or fail (``{"pass": true, "message": "..."}``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from andon.analysis.providers.protocol import Subject
from andon.analysis.readings import Answer, Observed
from andon.errors import TemporaryError


@dataclass
class WebhookProvider:
    """POSTs ``{canary, stable, metric, run}`` as JSON to ``url``; a 2xx answer with a
    boolean ``pass`` (and an optional ``message``) is the verdict. Anything else, or no
    answer within ``timeout``, is an unreachable source: never a pass."""

    metric: str
    url: str
    client: httpx.AsyncClient | None = None
    timeout: float = 10.0

    @property
    def source(self) -> str:
        return f"webhook:{self.metric}"

    async def observe(self, subject: Subject) -> Observed:
        """The webhook's answer about ``subject``."""
        payload = {
            "canary": subject.canary,
            "stable": subject.stable,
            "metric": self.metric,
            "run": subject.run,
        }
        try:
            if self.client is not None:
                response = await self.client.post(self.url, json=payload, timeout=self.timeout)
            else:
                async with httpx.AsyncClient(timeout=self.timeout) as client:
                    response = await client.post(self.url, json=payload)
        except httpx.TimeoutException as exc:
            raise TemporaryError(
                f"the webhook {self.url} did not answer within {self.timeout:g} s."
            ) from exc
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise TemporaryError(f"the webhook {self.url} cannot be reached: {reason}.") from exc
        return Observed(answers={self.metric: _answer(self.url, response)})


def _answer(url: str, response: httpx.Response) -> Answer:
    if not response.is_success:
        raise TemporaryError(
            f"the webhook {url} answered {response.status_code}; it must answer 2xx with "
            '{"pass": true|false, "message": "..."}.'
        )
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    passed = body.get("pass") if isinstance(body, Mapping) else None
    if not isinstance(passed, bool):
        raise TemporaryError(
            f"the webhook {url} answered without a boolean 'pass'; it must answer "
            '{"pass": true|false, "message": "..."}.'
        )
    message = body.get("message") if isinstance(body, Mapping) else None
    return Answer(passed, str(message) if message is not None else "")
