"""Drift: how a running environment differs from what was declared for it.

Environments are immutable; a change made by hand (an edited config file, a patched
source file, an instance started with another command, a migration applied out of band)
is drift. The drift checker observes an environment into an :class:`ActualState`, builds
the :class:`DeclaredState` from the deploy's record, and stores what :func:`assess_drift`
returns. Everything here is pure.

Values of environment variables never appear in a message, and in ``expected`` and
``actual`` only as :func:`fingerprint`; callers fingerprint secret values before they put
them in a state, so that states may be kept too.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

_SHORT_SHA = 8
_SHORT_DIGEST = len("sha256:") + 12
_FINGERPRINT_HEX = 16
_DIGITS = re.compile(r"(\d+)")


class DriftKind(StrEnum):
    """What drifted."""

    CONFIG = "config"
    MIGRATION = "migration"
    INSTANCE_COUNT = "instance_count"
    INSTANCE = "instance"
    ARTIFACT = "artifact"
    COMMAND = "command"
    ENVIRONMENT = "environment"
    RELEASE_FILE = "release_file"


@dataclass(frozen=True, slots=True)
class DriftItem:
    """One difference: what it concerns, what was declared, what was found, and a sentence."""

    kind: DriftKind
    subject: str
    expected: str | int | None
    actual: str | int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values, as the store keeps them."""
        return {
            "kind": self.kind.value,
            "subject": self.subject,
            "expected": self.expected,
            "actual": self.actual,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftItem:
        """The item :meth:`to_dict` gave."""
        return cls(
            kind=DriftKind(data["kind"]),
            subject=data["subject"],
            expected=data.get("expected"),
            actual=data.get("actual"),
            message=data["message"],
        )


@dataclass(frozen=True, slots=True)
class DeclaredProcess:
    """How the instances of one process are meant to run."""

    command: str
    instances: int
    environment: Mapping[str, str] = field(default_factory=dict)
    """The variables Andon sets; secret values as :func:`fingerprint` gives them."""


@dataclass(frozen=True, slots=True)
class DeclaredState:
    """What the last deploy of an environment declared."""

    artifact: str
    release_files: Mapping[str, str]
    """What ``release_files(manifest)`` gives: sha256 (hex) by path in the release."""
    config: Mapping[str, str]
    """The sha256 (hex) of each rendered config file, by destination."""
    processes: Mapping[str, DeclaredProcess]
    migrations: Sequence[str] = ()
    """The migration versions the release holds, in order."""


@dataclass(frozen=True, slots=True)
class InstanceState:
    """One instance as observed; None for what could not be observed."""

    name: str
    process: str
    running: bool
    artifact: str | None = None
    release_files: Mapping[str, str] | None = None
    command: str | None = None
    environment: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ActualState:
    """An environment as observed; None for what could not be observed."""

    instances: Sequence[InstanceState] = ()
    config: Mapping[str, str] | None = None
    migrations: Sequence[str] | None = None
    """The migration versions applied to the database."""


def assess_drift(declared: DeclaredState, actual: ActualState) -> list[DriftItem]:
    """Every way ``actual`` differs from ``declared``, in a fixed order (config,
    migrations, instance counts, instances, then what each running instance runs); no side
    effects. What ``actual`` could not observe (None) is not judged."""
    return [
        *_config_drift(declared.config, actual.config),
        *_migration_drift(declared.migrations, actual.migrations),
        *_count_drift(declared.processes, actual.instances),
        *_instance_drift(declared.processes, actual.instances),
        *_running_drift(declared, actual.instances),
        *_release_file_drift(declared, actual.instances),
    ]


def instance_names(process: str, count: int) -> list[str]:
    """The names of a process's declared instances: ``web-1``, ``web-2``, ..."""
    return [f"{process}-{index}" for index in range(1, count + 1)]


def fingerprint(value: str) -> str:
    """A value that may be compared but not read: ``sha256:`` and 16 hex digits of its hash."""
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:_FINGERPRINT_HEX]


def _config_drift(declared: Mapping[str, str], actual: Mapping[str, str] | None) -> list[DriftItem]:
    if actual is None:
        return []
    items = []
    for path, expected in sorted(declared.items()):
        found = actual.get(path)
        if found is None:
            message = f"{path} is missing; it is rendered when the environment is deployed"
            items.append(DriftItem(DriftKind.CONFIG, path, expected, None, message))
        elif found != expected:
            message = (
                f"{path} was changed by hand (sha256 {_short(found)} expected {_short(expected)})"
            )
            items.append(DriftItem(DriftKind.CONFIG, path, expected, found, message))
    return items


def _migration_drift(declared: Sequence[str], applied: Sequence[str] | None) -> list[DriftItem]:
    if applied is None:
        return []
    items = []
    done = set(applied)
    for version in declared:
        if version not in done:
            message = f"migration {version} is not applied"
            items.append(DriftItem(DriftKind.MIGRATION, version, "applied", None, message))
    known = set(declared)
    for version in applied:
        if version not in known:
            message = f"migration {version} is applied but is not in the release"
            items.append(DriftItem(DriftKind.MIGRATION, version, None, "applied", message))
    return items


def _count_drift(
    processes: Mapping[str, DeclaredProcess], instances: Sequence[InstanceState]
) -> list[DriftItem]:
    running: dict[str, int] = {}
    for instance in instances:
        if instance.running:
            running[instance.process] = running.get(instance.process, 0) + 1
    items = []
    for process in sorted(set(processes) | set(running)):
        want = processes[process].instances if process in processes else 0
        have = running.get(process, 0)
        if have != want:
            message = f"{process} has {_instances(have)} running; {_declared(want)}"
            items.append(DriftItem(DriftKind.INSTANCE_COUNT, process, want, have, message))
    return items


def _instance_drift(
    processes: Mapping[str, DeclaredProcess], instances: Sequence[InstanceState]
) -> list[DriftItem]:
    by_name = {instance.name: instance for instance in instances}
    wanted = {
        name
        for process, declared in processes.items()
        for name in instance_names(process, declared.instances)
    }
    items = []
    for name in sorted(wanted | set(by_name), key=_natural):
        instance = by_name.get(name)
        is_running = instance is not None and instance.running
        if name in wanted and not is_running:
            state = "missing" if instance is None else "stopped"
            message = f"instance {name} is not running"
            items.append(DriftItem(DriftKind.INSTANCE, name, "running", state, message))
        elif name not in wanted and is_running:
            message = f"instance {name} is running but is not declared"
            items.append(DriftItem(DriftKind.INSTANCE, name, None, "running", message))
    return items


def _running_drift(declared: DeclaredState, instances: Sequence[InstanceState]) -> list[DriftItem]:
    """Artifact, command and environment of each running instance of a declared process."""
    items = []
    for instance in _running(declared, instances):
        process = declared.processes[instance.process]
        name = instance.name
        if instance.artifact is not None and instance.artifact != declared.artifact:
            message = (
                f"instance {name} runs artifact {_short_digest(instance.artifact)}; "
                f"{_short_digest(declared.artifact)} is declared"
            )
            items.append(
                DriftItem(DriftKind.ARTIFACT, name, declared.artifact, instance.artifact, message)
            )
        if instance.command is not None and instance.command != process.command:
            message = (
                f"instance {name} was started with `{instance.command}`; "
                f"`{process.command}` is declared"
            )
            items.append(
                DriftItem(DriftKind.COMMAND, name, process.command, instance.command, message)
            )
        if instance.environment is not None:
            items.extend(_environment_drift(name, process.environment, instance.environment))
    return items


def _environment_drift(
    name: str, declared: Mapping[str, str], actual: Mapping[str, str]
) -> list[DriftItem]:
    # Only the variables Andon sets are compared: the supervisor adds others (PORT, the
    # instance's name), and a process cannot gain a variable without being restarted.
    items = []
    for variable, expected in sorted(declared.items()):
        found = actual.get(variable)
        subject = f"{name} {variable}"
        if found is None:
            message = f"instance {name} was started without {variable}, which is declared"
            items.append(
                DriftItem(DriftKind.ENVIRONMENT, subject, fingerprint(expected), None, message)
            )
        elif found != expected:
            message = f"instance {name} was started with another {variable} than the declared one"
            items.append(
                DriftItem(
                    DriftKind.ENVIRONMENT,
                    subject,
                    fingerprint(expected),
                    fingerprint(found),
                    message,
                )
            )
    return items


def _release_file_drift(
    declared: DeclaredState, instances: Sequence[InstanceState]
) -> list[DriftItem]:
    """Files changed in the releases of running instances; instances that share a release
    directory find the same change, which is reported once with all their names."""
    # (path, expected, actual) → names of the instances where it was found.
    changes: dict[tuple[str, str | None, str | None], list[str]] = {}
    for instance in _running(declared, instances):
        files = instance.release_files
        if files is None or (instance.artifact not in (None, declared.artifact)):
            # Another artifact's files differ everywhere; the artifact item says it all.
            continue
        for change in _file_changes(declared, files):
            changes.setdefault(change, []).append(instance.name)
    items = []
    for (path, expected, found), names in sorted(changes.items(), key=_by_path):
        where = f"the release of {', '.join(names)}"
        if found is None:
            message = f"{path} was deleted from {where}"
        elif expected is None:
            message = f"{path} was added by hand to {where}"
        else:
            message = (
                f"{path} was changed by hand in {where} "
                f"(sha256 {_short(found)} expected {_short(expected)})"
            )
        items.append(DriftItem(DriftKind.RELEASE_FILE, path, expected, found, message))
    return items


def _file_changes(
    declared: DeclaredState, actual: Mapping[str, str]
) -> Iterable[tuple[str, str | None, str | None]]:
    # Rendered config lives in the release too and is judged on its own.
    for path in sorted(set(declared.release_files) | set(actual)):
        if path in declared.config:
            continue
        expected, found = declared.release_files.get(path), actual.get(path)
        if expected != found:
            yield path, expected, found


def _running(declared: DeclaredState, instances: Sequence[InstanceState]) -> list[InstanceState]:
    chosen = [i for i in instances if i.running and i.process in declared.processes]
    return sorted(chosen, key=lambda instance: _natural(instance.name))


def _by_path(entry: tuple[tuple[str, str | None, str | None], list[str]]) -> tuple[str, str]:
    (path, _expected, found), _names = entry
    return path, found or ""


def _natural(name: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key that puts ``web-2`` before ``web-10``."""
    return tuple((1, int(part)) if part.isdigit() else (0, part) for part in _DIGITS.split(name))


def _instances(count: int) -> str:
    return f"{count} instance" if count == 1 else f"{count} instances"


def _declared(count: int) -> str:
    if count == 0:
        return "none are declared"
    return f"{count} is declared" if count == 1 else f"{count} are declared"


def _short(sha256: str) -> str:
    return f"{sha256[:_SHORT_SHA]}…"


def _short_digest(digest: str) -> str:
    return f"{digest[:_SHORT_DIGEST]}…" if len(digest) > _SHORT_DIGEST else digest
