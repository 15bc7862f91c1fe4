"""A located problem in andon.yaml, and the did-you-mean hint every message may carry."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DataPath = tuple[str | int, ...]
"""Where a value sits in the document: keys and list indexes from the root."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with andon.yaml, at a line and column (both from 1)."""

    line: int
    column: int
    path: str
    message: str

    def format(self, source: str = "andon.yaml") -> str:
        """``andon.yaml:14:7: environments.prod.strategy: unknown strategy 'canery'; ...``."""
        where = f"{self.path}: " if self.path else ""
        return f"{source}:{self.line}:{self.column}: {where}{self.message}"

    def to_dict(self) -> dict[str, object]:
        """The problem as JSON-able data, for the API."""
        return {
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
        }


def dotted(path: DataPath) -> str:
    """``("environments", "prod", "strategy")`` → ``environments.prod.strategy``;
    list indexes read as ``steps[2]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'canary'?)`` when one choice is close to ``word``, else ``""``."""
    if not isinstance(word, str):
        return ""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not matches:
        matches = [choice for choice in choices if choice.lower() == word.lower()]
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def one_of(choices: Sequence[str]) -> str:
    """``recreate, rolling, blue-green, canary``: the choices as a person reads them."""
    return ", ".join(choices)
