"""The JSON Schema that ``andon schema`` gives editors agrees with the loader: it is a
valid draft 2020-12 schema, accepts every valid golden case and the example shop's file,
and rejects the invalid cases that ``cases/invalid/schema_verdicts.json`` says a JSON
Schema can express (types, unknown keys, choices, patterns, ranges, missing keys, the
shape of one object). YAML syntax, references between sections, orderings and files in
the repository are the loader's alone; those cases are marked false.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from andon.errors import SpecError
from andon.spec import json_schema, parse_spec

CASES = Path(__file__).parent / "cases"
INVALID = CASES / "invalid"
EXAMPLE = Path(__file__).parents[2] / "examples/shop/andon.yaml"


def verdicts() -> dict[str, bool]:
    return json.loads((INVALID / "schema_verdicts.json").read_text("utf-8"))


def plain_data(path: Path) -> Any:
    """The document as an editor's schema check sees it: YAML loaded into JSON values
    (dates become text, as the loader keeps them)."""
    data = YAML(typ="safe", pure=True).load(path.read_bytes())
    return json.loads(json.dumps(data, default=str))


def schema_must_reject() -> list[Any]:
    return [
        pytest.param(INVALID / f"{name}.yaml", id=name)
        for name, rejected in sorted(verdicts().items())
        if rejected
    ]


def schema_must_accept() -> list[Any]:
    cases = [pytest.param(path, id=path.stem) for path in sorted(CASES.glob("valid_*.yaml"))]
    return [*cases, pytest.param(EXAMPLE, id="examples/shop")]


def dotted(parts: Iterable[str | int]) -> str:
    """A JSON Schema error's place as the loader writes it: ``release.steps[0].weight``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def within(outer: str, inner: str) -> bool:
    return outer in ("", inner) or inner.startswith((f"{outer}.", f"{outer}["))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json_schema())


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = json_schema()

    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"


def test_the_schema_is_plain_json() -> None:
    schema = json_schema()

    assert json.loads(json.dumps(schema)) == schema


@pytest.mark.parametrize("case", schema_must_accept())
def test_the_schema_accepts_a_valid_document(
    case: Path, validator: jsonschema.Draft202012Validator
) -> None:
    errors = [
        f"{list(error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(plain_data(case))
    ]

    assert errors == []


@pytest.mark.parametrize("case", schema_must_reject())
def test_the_schema_rejects_an_invalid_document_where_the_loader_does(
    case: Path, validator: jsonschema.Draft202012Validator
) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(case.read_bytes())
    loader_paths = {problem.path for problem in caught.value.problems}

    schema_paths = {
        dotted(error.absolute_path) for error in validator.iter_errors(plain_data(case))
    }

    # Refused for the same reason, not for another one somewhere else in the file: the
    # schema's complaint and the loader's concern the same place (or one holds the other).
    assert any(
        within(schema_path, loader_path) or within(loader_path, schema_path)
        for schema_path in schema_paths
        for loader_path in loader_paths
    ), (schema_paths, loader_paths)


def test_every_case_the_schema_should_reject_is_yaml_an_editor_can_read() -> None:
    # A verdict of true on a file that does not even load would pass for the wrong reason.
    for name, rejected in verdicts().items():
        if rejected:
            assert (INVALID / f"{name}.yaml").is_file(), name
            plain_data(INVALID / f"{name}.yaml")
