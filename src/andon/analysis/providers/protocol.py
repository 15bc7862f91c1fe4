"""The :class:`Provider` Protocol every metric source implements, and the
:class:`Subject` of an observation: which run, and which versions.

One module per provider (``router``, ``app``, ``prometheus``, ``webhook``, ``command``)
and a ``fake``; :func:`~andon.analysis.providers.observing.observe` asks them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from andon.analysis.readings import Observed


@dataclass(frozen=True)
class Subject:
    """What is being analysed: run ``run`` of ``canary``, against ``stable`` (None when
    the canary is compared with a recorded baseline)."""

    run: int
    canary: str
    stable: str | None = None

    @property
    def versions(self) -> tuple[str, ...]:
        """The canary, and the stable version when there is one."""
        return (self.canary,) if self.stable is None else (self.canary, self.stable)


class Provider(Protocol):
    """A metric source. :meth:`observe` fills its own part of an :class:`Observed` and
    raises an :class:`~andon.errors.AndonError` whose message is a whole sentence when it
    cannot: :func:`~andon.analysis.providers.observing.observe` turns that into the
    source being unreachable, with the sentence as the reason."""

    @property
    def source(self) -> str:
        """The source's name in :attr:`Observed.unreachable`: ``router``, ``app``, or
        ``<provider>:<metric>`` (see :func:`~andon.analysis.readings.sources_of`)."""
        ...

    async def observe(self, subject: Subject) -> Observed:
        """What the source says about ``subject`` now."""
        ...
