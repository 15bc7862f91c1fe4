"""The flag service: each environment's flag set read, changed (by hand, by a kill, by a
deploy's andon.yaml), validated, versioned, published to the SDKs and evaluated.

The flags API, the SDK and OFREP routes, the rollout controller (a rollout that
succeeds) and environment creation call :class:`FlagService`, which the app builds once.
Every change is decided purely (:mod:`andon.server.flag_edits`), validated as a whole
flag set with the evaluator in strict mode (a bad one stores nothing), and written with a
compare-and-set on the version: when another change came first, the service decides again
on what is there now. After a write it wakes the environment's SDK streams.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from andon.errors import ConflictError, NotFoundError
from andon.flags import FlagSet, FlagSetError
from andon.server.flag_edits import (
    FlagChange,
    FlagEdit,
    Who,
    decide_declared,
    decide_edit,
    decide_kill,
    decide_put,
    decide_restore,
    flag_entry,
)
from andon.server.flag_reports import FlagReports
from andon.server.flag_streams import FlagStreams
from andon.server.flag_tokens import FlagTokens
from andon.server.notifying import Notifier
from andon.spec.flag_guards import ExperimentSpec, GuardSpec, reference_problems
from andon.spec.flags import FlagSetSpec
from andon.spec.problems import did_you_mean
from andon.store import FlagHistoryRecord, FlagSetContent, FlagSetRecord, NewFlagHistory, Store

ATTEMPTS = 20
"""Times a change is decided again when other changes keep coming first."""
CACHED_SETS = 64
"""Compiled flag sets kept, by (project, environment, version)."""

_GUARDS = TypeAdapter(list[GuardSpec])


@dataclass(frozen=True, slots=True)
class Published:
    """One version of an environment's flag set as the SDKs get it, compiled once."""

    version: int
    flag_set: FlagSet
    body: dict[str, Any]
    """``GET /api/v1/sdk/flags``: project, environment, version, flags, guards."""
    event: str
    """The stream's event for this version, ready to send."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class FlagService:
    """Flag sets of every project and environment."""

    def __init__(
        self,
        store: Store,
        streams: FlagStreams | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
        notifier: Notifier | None = None,
    ) -> None:
        self.store = store
        self.streams = streams or FlagStreams()
        self.clock = clock
        # Tells the webhooks of each kill (the flag guards tell of their trips).
        self.notifier = notifier if notifier is not None else Notifier()
        self.tokens = FlagTokens(store, clock)
        self.reports = FlagReports(store, self.streams, clock)
        self._published: OrderedDict[tuple[str, str, int], Published] = OrderedDict()
        self._lock = threading.Lock()

    # -- reading -------------------------------------------------------------------------

    def check_environment(self, project: str, environment: str) -> None:
        """NotFoundError unless the project declares or runs ``environment``."""
        declared = self.store.projects.get(project).spec.get("environments") or {}
        if environment in declared:
            return
        running = {record.name for record in self.store.environments.list(project)}
        if environment not in running:
            raise NotFoundError(
                f"no environment {environment} in project {project}"
                f"{did_you_mean(environment, set(declared) | running)}; "
                "'andon env list' shows its environments."
            )

    def get(self, project: str, environment: str) -> FlagSetRecord:
        """The environment's flag set (version 0 and empty before its first change)."""
        return self.store.flags.get(project, environment)

    def history(
        self, project: str, environment: str, *, flag: str | None = None, limit: int = 100
    ) -> list[FlagHistoryRecord]:
        """The newest changes, newest first, of the whole set or of one flag."""
        return self.store.flags.history(project, environment, flag=flag, limit=limit)

    def published(self, project: str, environment: str) -> Published:
        """The current version as the SDKs get it; compiled once per version."""
        version = self.store.flags.version(project, environment)
        with self._lock:
            found = self._published.get((project, environment, version))
            if found is not None:
                self._published.move_to_end((project, environment, version))
                return found
        return self._keep(self.get(project, environment))

    def cached(self, project: str, environment: str, version: int | None) -> Published | None:
        """Version ``version`` as the SDKs get it, when this process has it in memory."""
        with self._lock:
            return self._published.get((project, environment, version or 0))

    def _keep(self, record: FlagSetRecord) -> Published:
        published = _publish(record)
        with self._lock:
            self._published[(record.project, record.environment, record.version)] = published
            while len(self._published) > CACHED_SETS:
                self._published.popitem(last=False)
        return published

    # -- changing --------------------------------------------------------------------------

    def put(
        self,
        project: str,
        environment: str,
        key: str,
        entry: Mapping[str, Any],
        who: Who,
    ) -> FlagSetRecord:
        """Flag ``key`` set whole: ``flag`` (its flagd definition) and, when given,
        ``guards`` and ``experiment`` (absent ones stay as they are)."""
        checked = dict(entry)
        if "guards" in checked:
            checked["guards"] = _checked_guards(key, checked["guards"])
        if checked.get("experiment") is not None:
            checked["experiment"] = _checked_experiment(key, checked["experiment"])

        def decide(content: FlagSetContent) -> FlagChange:
            current = flag_entry(content, key) or {}
            merged = {name: checked.get(name, current.get(name)) for name in _ENTRY}
            return decide_put(content, key, merged, who)

        return self.change(project, environment, decide)

    def edit(
        self, project: str, environment: str, key: str, edit: FlagEdit, who: Who
    ) -> FlagSetRecord:
        """Flag ``key`` changed by ``andon flags set`` (variant, on/off, rollout, segment)."""
        return self.change(project, environment, lambda c: decide_edit(c, key, edit, who))

    def kill(self, project: str, environment: str, key: str, who: Who) -> FlagSetRecord:
        """Flag ``key`` serves its off-variant everywhere until restored."""
        made: list[NewFlagHistory] = []

        def decide(content: FlagSetContent) -> FlagChange:
            # The change written is the last one decided; no history: killed already.
            change = decide_kill(content, key, who)
            made[:] = change.history
            return change

        record = self.change(project, environment, decide)
        if made:
            self.notifier.flag_killed(project, environment, made[0], self.clock())
        return record

    def restore(self, project: str, environment: str, key: str, who: Who) -> FlagSetRecord:
        """Flag ``key`` back as it ran before its kill."""
        return self.change(project, environment, lambda c: decide_restore(c, key, who))

    def apply_declared(
        self, project: str, environment: str, spec: FlagSetSpec, actor: str
    ) -> FlagSetRecord:
        """Apply the flags a release's andon.yaml declares; flags changed by hand since
        they were last declared are left as they run, with a conflict."""
        declared = {
            "document": spec.flagd_document(),
            "guards": spec.guards_document(),
            "experiments": spec.experiments_document(),
        }
        now = self.clock().astimezone(UTC).isoformat().replace("+00:00", "Z")
        who = Who(actor, "declared in andon.yaml")
        return self.change(project, environment, lambda c: decide_declared(c, declared, who, now))

    def change(
        self,
        project: str,
        environment: str,
        decide: Callable[[FlagSetContent], FlagChange],
    ) -> FlagSetRecord:
        """Decide a change on the current flag set, validate it, and write it as the next
        version; decided again when another change came first. Nothing is written when
        the change is invalid (FlagSetError) or changes nothing."""
        for _ in range(ATTEMPTS):
            record = self.get(project, environment)
            change = decide(record.content)
            if change.content == record.content:
                return record
            validate(change.content, source=f"the flags of {environment}")
            written = self.store.flags.replace(
                project,
                environment,
                expected_version=record.version,
                content=change.content,
                history=change.history,
                at=self.clock(),
            )
            if written is not None:
                # Published once here, so that every open stream sends it from memory
                # rather than each reading the store when it wakes.
                self._keep(written)
                self.streams.changed(project, environment, written.version)
                return written
        raise ConflictError(
            f"the flags of {environment} kept changing while this change was being made; "
            "try it again."
        )


_ENTRY = ("flag", "guards", "experiment")


def validate(content: FlagSetContent, *, source: str) -> None:
    """FlagSetError naming every problem of the flag set: its flags as the evaluator
    compiles them (strictly), and guards or experiments of unknown flags or variants."""
    problems: list[tuple[str, str]] = []
    try:
        FlagSet.from_document(content.document, strict=True, source=source)
    except FlagSetError as exc:
        problems.extend(exc.places)
    data = {
        "flags": content.document.get("flags", {}),
        "guards": content.guards,
        "experiments": content.experiments,
    }
    for path, message in reference_problems(data):
        problems.append((_dotted(path), message))
    if problems:
        raise FlagSetError(problems, source=source)


def _checked_guards(key: str, raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    try:
        return [guard.to_document() for guard in _GUARDS.validate_python(raw)]
    except ValidationError as exc:
        raise _model_problems(("guards", key), exc) from None


def _checked_experiment(key: str, raw: Any) -> dict[str, Any]:
    try:
        return ExperimentSpec.model_validate(raw).model_dump(mode="json")
    except ValidationError as exc:
        raise _model_problems(("experiments", key), exc) from None


def _model_problems(where: tuple[str | int, ...], exc: ValidationError) -> FlagSetError:
    problems = []
    for error in exc.errors():
        location = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
        message = error["msg"].removeprefix("Value error, ")
        problems.append((_dotted((*where, *location)), message))
    return FlagSetError(problems, source="the flag")


def _dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _publish(record: FlagSetRecord) -> Published:
    document = record.content.document
    flags = {"version": record.version, "flags": document, "guards": record.content.guards}
    data = json.dumps(flags, separators=(",", ":"), ensure_ascii=False)
    return Published(
        version=record.version,
        # Lenient: a set stored by an older evaluator still serves its sound flags.
        flag_set=FlagSet.from_document(document, strict=False, source="the flag set"),
        body={"project": record.project, "environment": record.environment, **flags},
        event=f"id: {record.version}\nevent: flags\ndata: {data}\n\n",
    )
