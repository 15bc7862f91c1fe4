"""A fake provider for the reconciler's tests: it answers with the observations (or raises
the errors) it was given, in order, and records who asked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from andon.analysis.providers.protocol import Subject
from andon.analysis.readings import Observed


@dataclass
class FakeProvider:
    """Answers ``script`` one per observation, repeating the last; an exception in it is
    raised instead, as a provider that cannot reach its source does."""

    source: str
    script: Sequence[Observed | Exception]
    asked: list[Subject] = field(default_factory=list)

    async def observe(self, subject: Subject) -> Observed:
        """The next scripted answer."""
        self.asked.append(subject)
        answer = self.script[min(len(self.asked), len(self.script)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer
