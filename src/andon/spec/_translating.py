"""Turn pydantic's validation errors into located problems a person can act on.

pydantic reports where it was in the *model* (with union branch names mixed in); this
module maps that back onto the *document*, finds the model that governs each place (to
list the keys or choices it expects), and words each error as a sentence.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from andon.spec._base import ENV_VAR_PATTERN, JOB_NAME_PATTERN, NAME_PATTERN
from andon.spec._reading import LocatedDocument, _kind, as_yaml
from andon.spec.problems import DataPath, Problem, did_you_mean, one_of

_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list",
    "none_required": "nothing",
}

_PATTERN_HINTS = {
    NAME_PATTERN: "is not a valid name; use lower-case letters, digits and dashes, "
    "starting and ending with a letter or digit (63 at most)",
    JOB_NAME_PATTERN: "is not a valid job name; use letters, digits, '.', '_' and '-'",
    ENV_VAR_PATTERN: "is not a valid variable name; use letters, digits and '_', "
    "not starting with a digit",
    r"^/": "is not a path; a path starts with '/'",
}


def translate(
    error: ValidationError, model: type[BaseModel], doc: LocatedDocument
) -> list[Problem]:
    """Every error in ``error`` as a located problem, union noise folded together."""
    found: list[tuple[DataPath, bool, dict[str, Any]]] = []
    for error_details in error.errors(include_url=False):
        detail: dict[str, Any] = dict(error_details)
        path, skipped = _document_path(doc.data, detail["loc"], detail["type"] == "missing")
        found.append((path, skipped, detail))

    # A union reports one error per branch. When one branch got deeper into the value,
    # that branch was meant and the shallow ones are noise; otherwise fold them together.
    deepest = {path for path, _, _ in found}
    problems: list[Problem] = []
    folded: dict[DataPath, list[dict[str, Any]]] = {}
    for path, skipped, detail in found:
        deeper = any(other[: len(path)] == path and len(other) > len(path) for other in deepest)
        if skipped and deeper:
            continue
        if skipped:
            folded.setdefault(path, []).append(detail)
            continue
        problems.append(_word(path, detail, model, doc))
    for path, details in folded.items():
        if len(details) == 1:
            problems.append(_word(path, details[0], model, doc))
            continue
        wanted = []
        for detail in details:
            text = _EXPECTED.get(detail["type"]) or _expected_in(detail)
            if text and text not in wanted:
                wanted.append(text)
        if not wanted:
            problems.append(_word(path, details[0], model, doc))
            continue
        got = _describe(details[0]["input"])
        problems.append(doc.problem(path, f"expected {' or '.join(wanted)}, got {got}"))
    return problems


def _expected_in(detail: dict[str, Any]) -> str | None:
    """What a validator's own message says it expected: "expected X, got Y" → X."""
    if detail["type"] != "value_error":
        return None
    message = str((detail.get("ctx") or {}).get("error", ""))
    if message.startswith("expected "):
        return message.removeprefix("expected ").split(", got ")[0]
    return None


def _document_path(data: Any, loc: tuple[int | str, ...], missing: bool) -> tuple[DataPath, bool]:
    """Follow ``loc`` through the data; parts that are not in it are union branch names,
    except the last part of a missing key."""
    path: list[str | int] = []
    node = data
    skipped = False
    for index, part in enumerate(loc):
        if missing and index == len(loc) - 1 and isinstance(part, str):
            path.append(part)
            break
        in_map = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_map or in_list:
            path.append(part)
            node = node[part]
        else:
            skipped = True
    return tuple(path), skipped


def _word(
    path: DataPath, detail: dict[str, Any], model: type[BaseModel], doc: LocatedDocument
) -> Problem:
    kind = detail["type"]
    value = detail.get("input")
    ctx = detail.get("ctx") or {}
    if kind == "missing":
        parent = path[:-1]
        return doc.problem(parent, f"missing required key '{path[-1]}'", key=bool(parent))
    if kind == "extra_forbidden":
        expected = _fields_of(_annotation_at(model, path[:-1]))
        hint = did_you_mean(path[-1], expected)
        listed = f"; expected one of {one_of(expected)}" if expected else ""
        return doc.problem(path, f"unknown key '{path[-1]}'{listed}{hint}", key=True)
    if kind in {"enum", "literal_error"}:
        choices = _choices(_annotation_at(model, path))
        noun = _noun(path)
        hint = did_you_mean(value, choices)
        wanted = f"one of {one_of(choices)}" if len(choices) > 1 else one_of(choices)
        return doc.problem(path, f"unknown {noun} {as_yaml(value)}; expected {wanted}{hint}")
    if kind == "value_error":
        message = str(ctx.get("error", detail["msg"]))
        return doc.problem(path, message)
    if kind == "string_pattern_mismatch":
        hint = _PATTERN_HINTS.get(ctx.get("pattern", ""), f"does not match {ctx.get('pattern')}")
        return doc.problem(path, f"{value!r} {hint}")
    if kind in {"greater_than_equal", "greater_than"}:
        bound = ctx.get("ge", ctx.get("gt"))
        return doc.problem(path, f"must be at least {bound}, got {value!r}")
    if kind in {"less_than_equal", "less_than"}:
        bound = ctx.get("le", ctx.get("lt"))
        return doc.problem(path, f"must be at most {bound}, got {value!r}")
    if kind == "too_short":
        return doc.problem(path, "must not be empty")
    if kind == "string_too_short":
        return doc.problem(path, "must not be empty")
    if kind in _EXPECTED:
        return doc.problem(path, f"expected {_EXPECTED[kind]}, got {_describe(value)}")
    return doc.problem(path, str(detail["msg"]))


def _describe(value: Any) -> str:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return f"{_kind(value)} {value!r}"
    return _kind(value)


def _noun(path: DataPath) -> str:
    names = [part for part in path if isinstance(part, str)]
    return names[-1].replace("_", " ") if names else "value"


def _annotation_at(model: type[BaseModel], path: DataPath) -> Any:
    """The type that governs the value at ``path``, or None when the path leaves the models."""
    current: Any = model
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not isinstance(part, str):
                return None
            field = _field_named(current, part)
            if field is None:
                return None
            current = field
            continue
        origin = typing.get_origin(current)
        args = typing.get_args(current)
        if origin in {dict, list} and args:
            current = args[-1]
            continue
        return None
    return _unwrap(current)


def _field_named(model: type[BaseModel], name: str) -> Any:
    for field_name, info in model.model_fields.items():
        if (info.alias or field_name) == name:
            return info.annotation
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated and Optional; of other unions, prefer a model, then a container."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in {typing.Union, types.UnionType}:
            options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            models = [
                arg for arg in options if isinstance(arg, type) and issubclass(arg, BaseModel)
            ]
            annotation = (models or options)[0]
            continue
        return annotation


def _fields_of(annotation: Any) -> list[str]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [info.alias or name for name, info in annotation.model_fields.items()]
    return []


def _choices(annotation: Any) -> list[str]:
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(member.value) for member in annotation]
    if typing.get_origin(annotation) is typing.Literal:
        return [str(arg) for arg in typing.get_args(annotation)]
    return []
