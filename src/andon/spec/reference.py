"""The andon.yaml reference in Markdown, generated from the models' field docstrings, so
that the documentation cannot drift from what the loader accepts.

``andon schema --markdown`` prints it; ``docs/andon-yaml.md`` is its output, and a test
keeps the two equal.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from andon.spec._units import format_duration, parse_duration, parse_measure, parse_percent
from andon.spec.document import AndonSpec

_INTRO = """\
# andon.yaml reference

`andon.yaml` sits at the root of a service's repository (or in a subdirectory of a
monorepo) and holds everything needed to recreate the service and all of its environments
from nothing. `andon validate` checks it and reports every problem with its line and column;
`andon schema` prints its JSON Schema for editors. Durations are written `30s`, `5m`, `2h`
or `1h30m`; percentages `10%`. Unknown keys are errors.

This page is generated from the models (`andon schema --markdown`); the example service's
[andon.yaml](../examples/shop/andon.yaml) uses every section.
"""


def markdown_reference() -> str:
    """The reference of every section and field, as Markdown. No side effects."""
    places: dict[type[BaseModel], list[str]] = {AndonSpec: ["top level"]}
    queue: list[tuple[str, type[BaseModel]]] = [("", AndonSpec)]
    while queue:
        where, model = queue.pop(0)
        for name, info in model.model_fields.items():
            key = info.alias or name
            suffix = "[]" if typing.get_origin(info.annotation) is list else ""
            suffix = ".*" if typing.get_origin(info.annotation) is dict else suffix
            path = f"{where}.{key}{suffix}" if where else f"{key}{suffix}"
            for child in _models_in(info.annotation):
                if child not in places:
                    queue.append((path, child))
                places.setdefault(child, []).append(path)
    parts = [_INTRO]
    for model, paths in places.items():
        where = ", ".join(f"`{path}`" for path in paths)
        parts.append(f"## {model.__name__}\n\nAt {where}. {_doc(model)}\n")
        parts.append("| key | type | default | meaning |\n|---|---|---|---|")
        for name, info in model.model_fields.items():
            parts.append(
                f"| `{info.alias or name}` | {_field_type(info)} | {_default(info)} | "
                f"{_one_line(info.description or '')} |"
            )
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def _field_type(info: FieldInfo) -> str:
    # pydantic keeps Annotated metadata apart from the annotation; the unit parsers
    # tell durations and percentages from plain numbers.
    units = {
        parse_duration: "duration",
        parse_percent: "percentage",
        parse_measure: "number, percentage or duration",
    }
    for meta in info.metadata:
        unit = units.get(getattr(meta, "func", None))  # type: ignore[arg-type]
        if unit:
            return unit
    return _type(info.annotation)


def _doc(model: type[BaseModel]) -> str:
    return _one_line(model.__doc__ or "")


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("``", "`").replace("|", "\\|")


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.default
    if value is PydanticUndefined or value is None:
        return "—"
    if isinstance(value, timedelta):
        return f"`{format_duration(value)}`"
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value in ([], {}):
        return "empty"
    return f"`{json.dumps(value)}`" if isinstance(value, list | str) else f"`{value}`"


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        base = args[0]
        if base is timedelta:
            return "duration"
        if base is float and any("percent" in repr(meta).lower() for meta in args[1:]):
            return "percentage"
        return _type(base)
    if origin in {typing.Union, types.UnionType}:
        return " or ".join(_type(arg) for arg in args if arg is not type(None))
    if origin is list:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"map of {_type(args[1])}"
    if origin is typing.Literal:
        return " or ".join(f"`{arg}`" for arg in args)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " / ".join(f"`{member.value}`" for member in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    names = {str: "text", int: "integer", float: "number", bool: "boolean", Any: "any"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found
