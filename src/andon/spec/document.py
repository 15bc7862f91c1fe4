"""The root of andon.yaml: every section that is needed to recreate the service and
all of its environments from nothing."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from andon.spec._base import ENV_VAR_PATTERN, JOB_NAME_PATTERN, NAME_PATTERN, SpecModel
from andon.spec.configuration import ConfigSpec, DatabaseSpec, SmokeSpec
from andon.spec.environments import EnvironmentSpec
from andon.spec.flags import FlagSetSpec
from andon.spec.jobs import JobSpec, PackageSpec
from andon.spec.release import ReleaseSpec
from andon.spec.service import ProcessSpec, ServiceSpec

# Names are checked on load by andon.spec.checking; these let editors check them too.
_NAMES: dict[str, Any] = {"propertyNames": {"pattern": NAME_PATTERN}}
_JOB_NAMES: dict[str, Any] = {"propertyNames": {"pattern": JOB_NAME_PATTERN}}


class AndonSpec(SpecModel):
    """An andon.yaml document."""

    version: Literal[1] = 1
    """The version of this file's format."""
    service: ServiceSpec
    """The service's name and owner."""
    processes: dict[str, ProcessSpec] = Field(min_length=1, json_schema_extra=_NAMES)
    """The kinds of process the service runs, by name (e.g. ``web``)."""
    build: dict[str, JobSpec] = Field(default={}, json_schema_extra=_JOB_NAMES)
    """Jobs that build the service, by name."""
    test: dict[str, JobSpec] = Field(default={}, json_schema_extra=_JOB_NAMES)
    """Jobs that test it, by name."""
    jobs: dict[str, JobSpec] = Field(default={}, json_schema_extra=_JOB_NAMES)
    """Any other pipeline jobs (lint, security scans), by name."""
    package: PackageSpec = PackageSpec()
    """What goes into the immutable artifact."""
    config: ConfigSpec = ConfigSpec()
    """Configuration templates and their default values."""
    secrets: list[Annotated[str, Field(pattern=ENV_VAR_PATTERN)]] = []
    """Names of secrets (values are set with ``andon secret set``, never written here)."""
    database: DatabaseSpec | None = None
    """The database each environment gets, with migrations and seed data."""
    smoke: SmokeSpec = SmokeSpec()
    """Checks run against every new version before it gets traffic."""
    environments: dict[str, EnvironmentSpec] = Field(min_length=1, json_schema_extra=_NAMES)
    """The service's environments, by name (dev, test, staging, prod, ...)."""
    release: ReleaseSpec = ReleaseSpec()
    """How new versions reach customers."""
    flags: FlagSetSpec = FlagSetSpec()
    """Feature flags, in the flagd flag-definition format."""

    def all_jobs(self) -> dict[str, JobSpec]:
        """Every pipeline job by name, from ``build``, ``test`` and ``jobs``."""
        return {**self.build, **self.test, **self.jobs}
