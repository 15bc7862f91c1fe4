"""The analysis package decides purely: no module imports a clock, the file system, the
network or a process, so that every judge can be driven by golden cases and simulations."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import andon.analysis

PACKAGE = Path(andon.analysis.__file__).parent
IMPURE = {"time", "datetime", "os", "pathlib", "socket", "subprocess", "asyncio", "httpx", "random"}


@pytest.mark.parametrize("module", sorted(PACKAGE.glob("*.py")), ids=lambda path: path.stem)
def test_module_imports_nothing_that_acts_on_the_world(module: Path) -> None:
    imported = set()
    for node in ast.walk(ast.parse(module.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & IMPURE
