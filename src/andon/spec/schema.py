"""The JSON Schema (draft 2020-12) of andon.yaml, for editors and other tools.

``andon schema`` prints it; tests check that it accepts the example service's file and
rejects the invalid golden cases that a schema can express.
"""

from __future__ import annotations

from typing import Any

from andon.spec.document import AndonSpec

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "https://andon.dev/schemas/andon.yaml.json"


def json_schema() -> dict[str, Any]:
    """The schema of an andon.yaml document."""
    schema = AndonSpec.model_json_schema(mode="validation", by_alias=True)
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": SCHEMA_ID,
        "title": "andon.yaml",
        **{key: value for key, value in schema.items() if key != "title"},
    }
