"""What the dashboard's browser test needs: ``make_stack(edit)`` starts a whole Andon
(agent, server, the example shop registered with its first pipeline green), as the
end-to-end tier's does (:mod:`andon.testing.stacks`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from andon.testing.stacks import Stack, start_stack

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Starts a stack with the example shop at ``examples/shop`` of its repository."""
    with contextlib.ExitStack() as stacks:

        def make(edit: Callable[[str], str] = lambda text: text, **options: Any) -> Stack:
            return stacks.enter_context(
                start_stack(tmp_path, SHOP, directory="examples/shop", edit=edit, **options)
            )

        yield make
