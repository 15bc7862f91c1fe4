"""The ``andon.yaml`` file: its models, the loader with located errors, and its JSON Schema.

The file holds everything needed to recreate a service and all its environments from
nothing. Everything else in Andon reads it through :func:`load_spec` or :func:`parse_spec`.
"""

from andon.spec._units import format_duration, parse_duration
from andon.spec.configuration import (
    CommandCheckSpec,
    ConfigSpec,
    DatabaseEngine,
    DatabaseSpec,
    HttpCheckSpec,
    MigrationsSpec,
    SeedSpec,
    SmokeSpec,
    TemplateSpec,
)
from andon.spec.document import AndonSpec
from andon.spec.environments import Approval, EnvironmentSpec, RuntimeKind
from andon.spec.flags import FlagSetSpec, FlagSpec, FlagState
from andon.spec.jobs import JobSpec, PackageSpec
from andon.spec.loading import load_spec, parse_spec
from andon.spec.problems import Problem
from andon.spec.reference import markdown_reference
from andon.spec.release import (
    AnalysisSpec,
    MetricSpec,
    ReleaseSpec,
    StepSpec,
    Strategy,
)
from andon.spec.scaffolding import starter_spec
from andon.spec.schema import json_schema
from andon.spec.service import ProcessSpec, ServiceSpec

__all__ = [
    "AnalysisSpec",
    "AndonSpec",
    "Approval",
    "CommandCheckSpec",
    "ConfigSpec",
    "DatabaseEngine",
    "DatabaseSpec",
    "EnvironmentSpec",
    "FlagSetSpec",
    "FlagSpec",
    "FlagState",
    "HttpCheckSpec",
    "JobSpec",
    "MetricSpec",
    "MigrationsSpec",
    "PackageSpec",
    "Problem",
    "ProcessSpec",
    "ReleaseSpec",
    "RuntimeKind",
    "SeedSpec",
    "ServiceSpec",
    "SmokeSpec",
    "StepSpec",
    "Strategy",
    "TemplateSpec",
    "format_duration",
    "json_schema",
    "load_spec",
    "markdown_reference",
    "parse_duration",
    "parse_spec",
    "starter_spec",
]
