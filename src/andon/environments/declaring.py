"""What an environment is made of, decided from andon.yaml alone: its instances, the
variables its commands and instances get, its migrations, and the names it has on the
agent. Everything here is pure; the lifecycle acts on it and the drift checker compares
what it observes with it.

An environment ``test`` of project ``shop`` is ``shop.test`` on the agent (projects share
agents, so environment names alone could clash), and its instances are
``shop.test.web-1``, ``shop.test.web-2``, … — names that drift reports as ``web-1``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from andon.environments.databases import DatabaseInfo
from andon.environments.drift import instance_names
from andon.errors import UsageError
from andon.spec import AndonSpec, EnvironmentSpec, ProcessSpec

AGENT_SEPARATOR = "."
VERSION_LENGTH = 12
"""Instances, the router and logs name a version by the first 12 digits of its commit."""
AGENT_VARIABLES = frozenset({"PORT", "ANDON_ENV", "ANDON_VERSION", "ANDON_INSTANCE"})
"""What the agent sets on every instance itself, over what it is given."""

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_VERSIONED = re.compile(rf"\.[0-9a-f]{{{VERSION_LENGTH}}}$")


@dataclass(frozen=True, slots=True)
class PlannedInstance:
    """One instance an environment declares."""

    name: str
    """``web-1``: the process and its number."""
    process: str
    command: str
    health_path: str | None
    stop_timeout: float


def check_environment_name(name: str) -> str:
    """``name`` when it can name an environment (a DNS label); UsageError otherwise."""
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"'{name}' cannot name an environment; use lower-case letters, digits and "
            "dashes (at most 63), starting and ending with a letter or digit."
        )
    return name


def agent_environment(project: str, env: str) -> str:
    """The environment's name on the agent: ``shop.test``."""
    return f"{project}{AGENT_SEPARATOR}{env}"


def instance_id(project: str, env: str, instance: str) -> str:
    """An instance's id on the agent: ``shop.test.web-1``."""
    return f"{agent_environment(project, env)}{AGENT_SEPARATOR}{instance}"


def instance_name(project: str, env: str, instance: str) -> str:
    """The name of an instance of the environment from its agent id (``web-1``), also
    for a deployed version's (``shop.prod.web-1.<version>``)."""
    name = instance.removeprefix(agent_environment(project, env) + AGENT_SEPARATOR)
    return _VERSIONED.sub("", name)


def version_label(commit: str) -> str:
    """How instances and the router name the version of ``commit``."""
    return commit[:VERSION_LENGTH]


def http_process(spec: AndonSpec) -> str:
    """The process the router sends requests to: ``web`` when there is one, else the
    first that learns a port."""
    if "web" in spec.processes:
        return "web"
    serving = [name for name, process in spec.processes.items() if process.port_env]
    return serving[0] if serving else next(iter(spec.processes))


def routing(spec: AndonSpec, version: str) -> dict[str, object]:
    """The router's settings for an environment running ``version`` alone: all of its
    requests to that version's instances of :func:`http_process`."""
    return {"process": http_process(spec), "weights": {version_label(version): 100}}


def copy_declared(spec: AndonSpec, name: str, source: str) -> AndonSpec:
    """``spec`` with environment ``name`` declared as a copy of ``source`` (``from:``), so
    that an ephemeral environment resolves like any declared one; no side effects."""
    copy = EnvironmentSpec.model_validate({"from": source})
    return spec.model_copy(update={"environments": {**spec.environments, name: copy}})


def instance_counts(spec: AndonSpec, environment: EnvironmentSpec) -> dict[str, int]:
    """How many instances of each process ``environment`` runs (its ``instances``: one
    number for all, a map by process, or each process's own); no side effects."""
    counts = {name: process.instances for name, process in spec.processes.items()}
    if isinstance(environment.instances, int):
        counts = dict.fromkeys(counts, environment.instances)
    elif isinstance(environment.instances, dict):
        counts.update(
            {name: n for name, n in environment.instances.items() if name in spec.processes}
        )
    return counts


def plan_instances(spec: AndonSpec, environment: EnvironmentSpec) -> list[PlannedInstance]:
    """Every instance ``environment`` declares, process by process; no side effects."""
    planned = []
    for process, count in instance_counts(spec, environment).items():
        declared = spec.processes[process]
        for name in instance_names(process, count):
            planned.append(
                PlannedInstance(
                    name=name,
                    process=process,
                    command=process_command(declared),
                    health_path=declared.health,
                    stop_timeout=declared.stop_timeout.total_seconds(),
                )
            )
    return planned


def process_command(process: ProcessSpec) -> str:
    """The command an instance of ``process`` runs: its own, told its port through its
    ``port_env`` when that is not the ``PORT`` the agent sets."""
    if process.port_env is None or process.port_env == "PORT":
        return process.command
    return f'export {process.port_env}="$PORT"; {process.command}'


def variables(
    spec: AndonSpec,
    *,
    env_name: str,
    version: str,
    artifact: str,
    secrets: Mapping[str, str],
    database: DatabaseInfo | None,
) -> dict[str, str]:
    """The variables of the environment's commands (migrations, seed, smoke) and
    instances; no side effects. Secrets are given as they are: callers mask them."""
    found = {
        "ANDON_ENV": env_name,
        "ANDON_SERVICE": spec.service.name,
        "ANDON_VERSION": version_label(version),
        "ANDON_ARTIFACT": artifact,
    }
    if database is not None and spec.database is not None:
        found.update(database.environment(spec.database.url_env))
    found.update(secrets)
    return found


def instance_variables(found: Mapping[str, str]) -> dict[str, str]:
    """Of :func:`variables`, those an instance keeps: the agent sets its own
    ``ANDON_ENV``, ``ANDON_VERSION``, ``PORT`` and ``ANDON_INSTANCE``."""
    return {name: value for name, value in found.items() if name not in AGENT_VARIABLES}


def declared_migrations(spec: AndonSpec, files: Iterable[str]) -> list[str]:
    """The migrations of a release: the names, without extension, of the files directly
    in ``database.migrations.path`` among ``files`` (the release's), sorted; no side
    effects. Empty when andon.yaml names no such directory."""
    migrations = spec.database.migrations if spec.database is not None else None
    if migrations is None or not migrations.path:
        return []
    directory = PurePosixPath(migrations.path)
    return sorted(
        PurePosixPath(file).stem for file in files if PurePosixPath(file).parent == directory
    )


def same_command(argv: list[str], declared: str) -> bool:
    """Whether a process whose arguments are ``argv`` runs ``declared``: bash running it,
    or the program it names once bash and any wrapper (a version manager's shim) have
    exec'd it, wherever that program was found on the PATH."""
    if len(argv) >= 3 and PurePosixPath(argv[0]).name in {"bash", "sh"} and argv[1] == "-c":
        return argv[2] == declared
    try:
        words = shlex.split(declared)
    except ValueError:
        return False
    if not words or len(words) != len(argv) or words[1:] != argv[1:]:
        return False
    return PurePosixPath(argv[0]).name == PurePosixPath(words[0]).name
