"""``andon init`` and ``andon schema`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from andon.spec import load_spec


def andon(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "andon", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=60,
    )


def test_init_writes_a_valid_file_for_a_python_service(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "Order_Service"\n')
    (tmp_path / "requirements.txt").write_text("flask\n")
    (tmp_path / "tests").mkdir()
    result = andon("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    spec = load_spec(tmp_path / "andon.yaml", check_files=True)
    assert spec.service.name == "order-service"
    assert "pip install -r requirements.txt" in spec.build["deps"].command
    assert "pytest tests" in spec.test["unit"].command
    assert "# " in (tmp_path / "andon.yaml").read_text()


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    (tmp_path / "andon.yaml").write_text("mine\n")
    refused = andon("init", cwd=tmp_path)
    assert refused.returncode == 1
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert (tmp_path / "andon.yaml").read_text() == "mine\n"
    forced = andon("init", "--force", cwd=tmp_path)
    assert forced.returncode == 0
    load_spec(tmp_path / "andon.yaml")


def test_schema_prints_a_draft_2020_12_json_schema(tmp_path: Path) -> None:
    result = andon("schema", cwd=tmp_path)
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "service" in schema["required"]


def test_validate_of_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    result = andon("validate", cwd=tmp_path)
    assert result.returncode == 1
    assert "andon init" in result.stderr and "Traceback" not in result.stderr


def test_the_reference_page_is_the_generated_one(tmp_path: Path) -> None:
    result = andon("schema", "--markdown", cwd=tmp_path)
    assert result.returncode == 0
    page = Path(__file__).resolve().parents[2] / "docs" / "andon-yaml.md"
    regenerate = "andon schema --markdown > docs/andon-yaml.md"
    assert page.read_text() == result.stdout, f"docs/andon-yaml.md is stale; run: {regenerate}"
