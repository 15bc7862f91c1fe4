"""A clock a test sets by hand, for the engines and the store, which take their time from
a callable instead of reading it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass
class FakeClock:
    """Answers ``at`` when called; a test moves it by setting ``at`` or with :meth:`advance`."""

    at: datetime

    def __call__(self) -> datetime:
        return self.at

    def advance(self, by: timedelta) -> datetime:
        """Move the clock on by ``by``; the new time."""
        self.at += by
        return self.at
