"""The rollout engine is a pure layer: it imports only the standard library, andon.spec
and andon.errors (the reconciler that acts lives above it), and never reads the clock."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import andon.rollout

PACKAGE = Path(andon.rollout.__file__).parent
ALLOWED = ("andon.rollout", "andon.spec", "andon.errors")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_rollout_engine_imports_only_the_spec_errors_and_the_standard_library() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            allowed = name.startswith(ALLOWED) or top in sys.stdlib_module_names
            assert allowed, f"{path.name} imports {name}"


def test_the_rollout_engine_never_reads_the_clock() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        text = path.read_text()
        for call in ("datetime.now(", "time.time(", "time.monotonic(", "date.today("):
            assert call not in text, f"{path.name} calls {call}"
