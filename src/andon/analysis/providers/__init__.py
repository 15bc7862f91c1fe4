"""The metric providers: the I/O side of the immune system, one small module per source
behind the :class:`Provider` Protocol, and a fake.

- :class:`RouterProvider`: the router's counts per version (``Runtime.traffic``);
- :class:`AppProvider`: counters scraped from each serving instance's ``/metrics``;
- :class:`PrometheusProvider`: an instant query to a Prometheus server;
- :class:`WebhookProvider`: an HTTP endpoint that answers pass or fail;
- :class:`CommandProvider`: a command whose exit status is pass or fail.

The rollout reconciler makes them with :func:`providers_for` and asks them all at each look
with :func:`observe`, which turns any failure into an unreachable source (with the reason)
instead of raising. The judging itself is pure, in :mod:`andon.analysis.runs`.
"""

from andon.analysis.providers.app import AppProvider
from andon.analysis.providers.command import CommandProvider
from andon.analysis.providers.fake import FakeProvider
from andon.analysis.providers.observing import observe, providers_for
from andon.analysis.providers.prometheus import PrometheusProvider
from andon.analysis.providers.protocol import Provider, Subject
from andon.analysis.providers.router import RouterProvider
from andon.analysis.providers.webhook import WebhookProvider

__all__ = [
    "AppProvider",
    "CommandProvider",
    "FakeProvider",
    "PrometheusProvider",
    "Provider",
    "RouterProvider",
    "Subject",
    "WebhookProvider",
    "observe",
    "providers_for",
]
