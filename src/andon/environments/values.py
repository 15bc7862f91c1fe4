"""The values an environment's config templates are rendered with, and the environment
declaration they come from once ``from:`` is resolved.

Deploys call :func:`layer_values` before :func:`~andon.environments.rendering.render_templates`;
anything that needs an environment's strategy, instances or TTL calls
:func:`resolve_environment`. Both are pure.

Layers, each over the one before: andon.yaml's ``config.values``, the environment's
``values`` (its ``from:`` chain included), the environment's secrets, and last the values
Andon provides (``env``, ``service``, ``version``, ``database_url``, ``database_path`` or
``database_name``). Andon's own come last because they describe the environment as it
really is: the shop's ``database_path: shop.db`` is where it keeps data when run by hand,
but in an environment it must use the database Andon made for that environment.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from andon.errors import NotFoundError, UsageError
from andon.spec import AndonSpec, DatabaseEngine, EnvironmentSpec
from andon.spec.problems import did_you_mean

if TYPE_CHECKING:  # pragma: no cover - typing only
    from andon.environments.databases import DatabaseInfo

PROVIDED_NAMES = ("env", "service", "version", "database_url", "database_path", "database_name")
"""The names of the values Andon provides; they win over declared values of the same name."""


def resolve_environment(spec: AndonSpec, name: str) -> EnvironmentSpec:
    """The environment ``name`` as declared, with its ``from:`` chain applied; no side effects.

    An environment copying another gets every key of it that it does not give itself;
    ``values`` are merged key by key (nested mappings too), the copy's winning. The result
    has no ``from``. NotFoundError for an unknown name, UsageError for a cycle (which
    loading andon.yaml reports already).
    """
    chain = _chain(spec, name)
    resolved = spec.environments[chain[-1]]
    for link in reversed(chain[:-1]):
        resolved = _overlay(resolved, spec.environments[link])
    return resolved.model_copy(update={"from_": None})


def layer_values(
    spec: AndonSpec,
    env_name: str,
    secrets: Mapping[str, str],
    *,
    version: str = "",
    database: DatabaseInfo | None = None,
) -> dict[str, Any]:
    """The values the templates of environment ``env_name`` are rendered with; no side
    effects.

    ``config.values`` < the environment's ``values`` (``from:`` resolved) < ``secrets``
    < :func:`provided_values`. Mappings are merged key by key; the result is a new,
    deep-copied dict that the caller may change.
    """
    environment = resolve_environment(spec, env_name)
    values = _merged(spec.config.values, environment.values)
    values.update(secrets)
    values.update(provided_values(spec, env_name, version=version, database=database))
    return values


def provided_values(
    spec: AndonSpec,
    env_name: str,
    *,
    version: str = "",
    database: DatabaseInfo | None = None,
) -> dict[str, Any]:
    """The values Andon gives every template; no side effects.

    ``env`` (the environment's name), ``service`` (andon.yaml's ``service.name``),
    ``version`` (the commit deployed) and, with a database, ``database_url`` and
    ``database_path`` (SQLite) or ``database_name`` (PostgreSQL).
    """
    values: dict[str, Any] = {"env": env_name, "service": spec.service.name, "version": version}
    if database is not None:
        values["database_url"] = database.url
        if database.engine is DatabaseEngine.SQLITE and database.path is not None:
            values["database_path"] = str(database.path)
        if database.engine is DatabaseEngine.POSTGRES and database.name is not None:
            values["database_name"] = database.name
    return values


def _chain(spec: AndonSpec, name: str) -> list[str]:
    """``[name, its from, that one's from, ...]``, ending with an environment that copies none."""
    chain: list[str] = []
    current: str | None = name
    while current is not None:
        if current not in spec.environments:
            hint = did_you_mean(current, spec.environments)
            if chain:
                raise NotFoundError(
                    f"environment {chain[-1]} copies '{current}', which andon.yaml does not "
                    f"declare{hint}; fix its 'from'."
                )
            declared = ", ".join(sorted(spec.environments))
            raise NotFoundError(
                f"andon.yaml declares no environment '{current}'{hint}; it declares {declared}."
            )
        if current in chain:
            cycle = " → ".join([*chain[chain.index(current) :], current])
            raise UsageError(
                f"environments {cycle} copy each other in a cycle; remove one of these "
                "'from' keys in andon.yaml."
            )
        chain.append(current)
        current = spec.environments[current].from_
    return chain


def _overlay(base: EnvironmentSpec, copy_: EnvironmentSpec) -> EnvironmentSpec:
    """``base`` with the keys ``copy_`` gives itself; ``values`` merged."""
    given = copy_.model_fields_set - {"from_"}
    changes = {field: getattr(copy_, field) for field in given}
    if "values" in given:
        changes["values"] = _merged(base.values, copy_.values)
    return base.model_copy(update=changes)


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` on top, mappings merged key by key; both are left unchanged."""
    merged = copy.deepcopy(dict(base))
    for key, value in over.items():
        below = merged.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            merged[key] = _merged(below, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
