"""Looking at an environment as it runs, for drift: its instances (from the runtime, and
for the local runtime what each process really runs — command, variables, release files —
from ``/proc``), its rendered config files, and the migrations its database has applied.

The lifecycle's drift check calls :func:`observe_environment` and compares the result
with :func:`declared_state` through :func:`~andon.environments.drift.assess_drift`. What
cannot be seen is None, which drift does not judge.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from andon.environments.databases import DatabaseInfo
from andon.environments.declaring import (
    PlannedInstance,
    instance_name,
    instance_variables,
    same_command,
)
from andon.environments.drift import (
    ActualState,
    DeclaredProcess,
    DeclaredState,
    InstanceState,
    fingerprint,
)
from andon.environments.releases import release_digest
from andon.runtimes import InstancePhase, InstanceStatus
from andon.spec import DatabaseEngine, TemplateSpec

_PROC = Path("/proc")
_ALIVE = {InstancePhase.STARTING, InstancePhase.READY, InstancePhase.UNHEALTHY}
_LEDGER = "schema_migrations"


@dataclass(frozen=True, slots=True)
class Observed:
    """Where the environment is: its project and name, its release directory, the
    config templates rendered into it, its database, and whether its instances run on
    this host (so that their processes can be looked at)."""

    project: str
    name: str
    release: Path
    templates: Sequence[TemplateSpec]
    database: DatabaseInfo | None
    local: bool = True


def declared_state(
    *,
    artifact: str,
    release_files: Mapping[str, str],
    config: Mapping[str, str],
    instances: Sequence[PlannedInstance],
    variables: Mapping[str, str],
    migrations: Sequence[str],
) -> DeclaredState:
    """What a deploy declared, with every variable's value as its fingerprint; no side
    effects."""
    kept = {name: fingerprint(value) for name, value in instance_variables(variables).items()}
    processes: dict[str, DeclaredProcess] = {}
    for planned in instances:
        known = processes.get(planned.process)
        count = 1 if known is None else known.instances + 1
        processes[planned.process] = DeclaredProcess(planned.command, count, kept)
    return DeclaredState(
        artifact=artifact,
        release_files=dict(release_files),
        config=dict(config),
        processes=processes,
        migrations=list(migrations),
    )


def observe_environment(
    where: Observed,
    statuses: Sequence[InstanceStatus],
    declared: DeclaredState,
) -> ActualState:
    """The environment as it is now, its instances as the runtime reported them."""
    names = {name for process in declared.processes.values() for name in process.environment}
    digests: dict[Path, dict[str, str]] = {}
    instances = [_instance(where, status, declared, names, digests) for status in statuses]
    return ActualState(
        instances=instances,
        config=_config_checksums(where.release, where.templates),
        migrations=applied_migrations(where.database, declared.migrations),
    )


def applied_migrations(database: DatabaseInfo | None, declared: Sequence[str]) -> list[str] | None:
    """The migrations a SQLite database records as applied in ``schema_migrations``
    (``version`` and, when kept, ``name``), each named as its declared file when one has
    its number; None when that cannot be read (no such table, another engine)."""
    if database is None or database.engine is not DatabaseEngine.SQLITE or database.path is None:
        return None
    if not database.path.exists():
        return None
    try:
        connection = sqlite3.connect(f"file:{database.path}?mode=ro", uri=True, timeout=2.0)
    except sqlite3.Error:
        return None
    try:
        columns = {row[1] for row in connection.execute(f"PRAGMA table_info({_LEDGER})")}
        if "version" not in columns:
            return None
        named = "name" in columns
        query = f"SELECT version{', name' if named else ''} FROM {_LEDGER} ORDER BY version"
        rows = connection.execute(query).fetchall()
    except sqlite3.Error:
        return None
    finally:
        connection.close()
    by_number = {_number(label): label for label in declared if _number(label) is not None}
    applied = []
    for row in rows:
        number = _number(str(row[0]))
        if number is not None and number in by_number:
            applied.append(by_number[number])
        elif named and number is not None:
            applied.append(f"{number:04d}_{row[1]}")
        else:
            applied.append(str(row[0]))
    return applied


def _instance(
    where: Observed,
    status: InstanceStatus,
    declared: DeclaredState,
    names: set[str],
    digests: dict[Path, dict[str, str]],
) -> InstanceState:
    name = instance_name(where.project, where.name, status.id)
    running = status.phase in _ALIVE
    if not running or not where.local or status.pid is None:
        # A process on another host cannot be looked at: it is judged on its phase alone.
        return InstanceState(name=name, process=status.process, running=running)
    facts = _process_facts(status.pid)
    if facts is None:
        # Its process is gone (killed just now, before the runtime noticed) or cannot
        # be read; only a process that is still there counts as running.
        return InstanceState(name=name, process=status.process, running=_alive(status.pid))
    argv, environ, cwd = facts
    process = declared.processes.get(status.process)
    command = shlex.join(argv)
    if process is not None and same_command(argv, process.command):
        command = process.command
    if cwd is not None and cwd not in digests:
        digests[cwd] = release_digest(cwd)
    return InstanceState(
        name=name,
        process=status.process,
        running=True,
        artifact=environ.get("ANDON_ARTIFACT"),
        release_files=digests.get(cwd) if cwd is not None else None,
        command=command,
        environment={key: fingerprint(environ[key]) for key in names if key in environ},
    )


def _process_facts(pid: int) -> tuple[list[str], dict[str, str], Path | None] | None:
    """What process ``pid`` runs, with which variables, from where; None when it is gone
    or cannot be read."""
    try:
        argv = (_PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
        raw = (_PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return None
    if not argv or argv == [b""]:
        # A zombie: it has exited and waits to be reaped.
        return None
    words = [word.decode("utf-8", errors="replace") for word in argv if word]
    environ = {}
    for entry in raw:
        key, sep, value = entry.decode("utf-8", errors="replace").partition("=")
        if sep:
            environ[key] = value
    try:
        cwd: Path | None = Path(os.readlink(_PROC / str(pid) / "cwd"))
    except OSError:
        cwd = None
    return words, environ, cwd


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie has)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[-1].split()
    return bool(fields) and fields[0] not in {"Z", "X"}


def _config_checksums(release: Path, templates: Sequence[TemplateSpec]) -> dict[str, str]:
    found = {}
    for template in templates:
        path = release / template.destination
        try:
            found[template.destination] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            continue
    return found


def _number(label: str) -> int | None:
    head = label.split("_", 1)[0]
    return int(head) if head.isdigit() else None
