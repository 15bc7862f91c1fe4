"""What an instance needs besides code: ``config`` templates, ``secrets``, the
``database`` with its migrations and seed data, and ``smoke`` tests."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field

from andon.spec._base import SpecModel
from andon.spec._units import Duration


class TemplateSpec(SpecModel):
    """A Jinja2 template rendered for every environment."""

    source: str = Field(min_length=1)
    """The template's path in the repository, relative to andon.yaml."""
    destination: str = Field(min_length=1)
    """Where the rendered file goes, relative to the instance's root."""


class ConfigSpec(SpecModel):
    """Configuration files and the default values they are rendered with."""

    templates: list[TemplateSpec] = []
    """Templates to render; undefined variables are errors."""
    values: dict[str, Any] = {}
    """Default values; an environment's ``values`` and then secrets override them."""


class DatabaseEngine(StrEnum):
    """Which database an environment gets."""

    SQLITE = "sqlite"
    POSTGRES = "postgres"


class MigrationsSpec(SpecModel):
    """How the schema is brought up to date."""

    command: str = Field(min_length=1)
    """The command that applies pending migrations; it must be idempotent."""
    path: str | None = None
    """The directory that holds the migration files, used to list them."""
    compatible: bool = True
    """Whether migrations keep the schema usable by the previous release (expand/contract),
    so that old and new versions may run side by side during a rollout."""
    breaking: list[str] = []
    """Migrations that are *not* compatible with the previous release; a rollout that
    brings one of them uses the recreate strategy."""
    timeout: Duration = timedelta(minutes=5)
    """How long the migration command may run."""


class SeedSpec(SpecModel):
    """Reference data every environment needs."""

    command: str = Field(min_length=1)
    """The command that inserts reference data; it must be idempotent."""


class DatabaseSpec(SpecModel):
    """The database each environment gets of its own."""

    engine: DatabaseEngine = DatabaseEngine.SQLITE
    """``sqlite`` (a file per environment) or ``postgres`` (a database per environment)."""
    url_env: str = "DATABASE_URL"
    """The variable through which instances and commands learn the database's location."""
    migrations: MigrationsSpec | None = None
    """How to migrate the schema; run once per deploy, under a lock."""
    seed: SeedSpec | None = None
    """How to insert reference data after migrations."""


class HttpMethod(StrEnum):
    """HTTP methods a smoke check may use."""

    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"


class HttpCheckSpec(SpecModel):
    """A request sent to a new version before it gets traffic."""

    name: str = ""
    """What the check proves, for the report; defaults to the method and path."""
    method: HttpMethod = HttpMethod.GET
    """The request method."""
    path: str = Field(pattern=r"^/")
    """The request path, e.g. ``/healthz``."""
    headers: dict[str, str] = {}
    """Request headers."""
    body: Any = None
    """A JSON request body."""
    status: int = Field(default=200, ge=100, le=599)
    """The expected status code."""
    contains: str | None = None
    """Text the response body must contain."""
    timeout: Duration = timedelta(seconds=5)
    """How long to wait for the answer."""


class CommandCheckSpec(SpecModel):
    """A command run against a new version; exit 0 means it passed. It learns the
    version's address as ``ANDON_URL``."""

    name: str = ""
    """What the check proves, for the report; defaults to the command."""
    command: str = Field(min_length=1)
    """The command to run from the artifact's root."""
    timeout: Duration = timedelta(minutes=1)
    """How long the command may run."""


class SmokeSpec(SpecModel):
    """Smoke tests run against every new version before customers see it."""

    http: list[HttpCheckSpec] = []
    """HTTP checks."""
    commands: list[CommandCheckSpec] = []
    """Command checks."""
