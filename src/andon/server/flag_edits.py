"""Changes to an environment's flag set, decided purely: a person's edit, a kill and its
restore, a metric guard's trip and its restore, and what a deploy declares (with
conflict detection).

:class:`~andon.server.flagging.FlagService` reads the flag set, calls one ``decide_*``
here, and writes the :class:`FlagChange` it answers under a compare-and-set on the
version (deciding again if another change came first); the guard controller
(:mod:`andon.server.flag_guarding`) goes through it too. None of these functions has side
effects; each answers the new content and one history entry per flag it changed, or no
entries when nothing changes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from andon.errors import ConflictError, NotFoundError, UsageError
from andon.server.flag_variants import fractional_split, off_variant, on_variant
from andon.store import FlagChangeKind, FlagSetContent, NewFlagHistory


@dataclass(frozen=True, slots=True)
class Who:
    """Who changes a flag set, and why."""

    actor: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class FlagChange:
    """The content a change leads to, and its history (empty: nothing changed)."""

    content: FlagSetContent
    history: list[NewFlagHistory] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FlagEdit:
    """A convenience edit of one flag (``andon flags set``); unset fields stay as they are."""

    variant: str | None = None
    """Serve this variant to everyone (targeting cleared); with ``rollout`` or
    ``segment``, the variant they serve instead of the flag's on-variant."""
    enabled: bool | None = None
    """ENABLED (True) or DISABLED (False)."""
    rollout: float | None = None
    """A sticky split: this percentage gets the on-variant, the rest the off-variant."""
    segment: str | None = None
    """The on-variant for the members of this ``$evaluators`` segment, else the default."""


@dataclass(frozen=True, slots=True)
class GuardTrip:
    """A metric guard's breach, as the guard controller found it."""

    guard: int
    """The guard's index among the flag's guards."""
    fallback: str
    at: str
    """When, as ISO 8601 in UTC with a ``Z``."""
    evidence: dict[str, Any] = field(default_factory=dict)


def flag_entry(content: FlagSetContent, key: str) -> dict[str, Any] | None:
    """Flag ``key`` as history and conflicts show it: its definition, guards and
    experiment; None when the flag set has no such flag."""
    definition = content.document.get("flags", {}).get(key)
    if definition is None:
        return None
    return {
        "flag": definition,
        "guards": content.guards.get(key, []),
        "experiment": content.experiments.get(key),
    }


def decide_put(content: FlagSetContent, key: str, entry: Mapping[str, Any], who: Who) -> FlagChange:
    """Flag ``key`` becomes ``entry`` (``flag``, ``guards``, ``experiment``), set by
    hand: that ends the flag's conflict and any kill or guard that held it. No side
    effects."""
    new = content.copy()
    before = flag_entry(content, key)
    _write(new, key, entry)
    new.conflicts.pop(key, None)
    released = new.held.pop(key, None)
    if new == content:
        return FlagChange(content)
    history = _history(FlagChangeKind.SET, key, who, before, flag_entry(new, key))
    if released is not None:
        # The history says that this change ended a kill or a guard's hold.
        ended = {name: released[name] for name in ("by", "guard", "since") if name in released}
        history = replace(history, evidence={"released": ended})
    return FlagChange(new, [history])


def decide_edit(content: FlagSetContent, key: str, edit: FlagEdit, who: Who) -> FlagChange:
    """Flag ``key`` changed by ``andon flags set``. No side effects.

    NotFoundError for an unknown flag; UsageError for an edit that cannot apply to it.
    """
    entry = _existing(content, key)
    flag = dict(entry["flag"])
    variants = flag.get("variants", {})
    choices = [edit.rollout is not None, edit.segment is not None]
    if sum(choices) > 1:
        raise UsageError("give one of --rollout or --segment, not both.")
    if edit.variant is not None and edit.variant not in variants:
        raise UsageError(
            f"flag '{key}' has no variant '{edit.variant}'; its variants are {', '.join(variants)}."
        )
    if edit.enabled is not None:
        flag["state"] = "ENABLED" if edit.enabled else "DISABLED"
    if edit.rollout is not None or edit.segment is not None:
        on = edit.variant or on_variant(key, flag)
        if edit.rollout is not None:
            off = off_variant(key, flag)
            flag["targeting"] = fractional_split(on, off, edit.rollout)
            flag["defaultVariant"] = off
        else:
            assert edit.segment is not None
            segments = content.document.get("$evaluators", {})
            if edit.segment not in segments:
                known = ", ".join(segments) or "none"
                raise UsageError(
                    f"there is no segment '{edit.segment}' in the flag set's $evaluators "
                    f"(it has {known}); declare it in andon.yaml's flags.$evaluators."
                )
            flag["targeting"] = {"if": [{"$ref": edit.segment}, on, None]}
    elif edit.variant is not None:
        flag["defaultVariant"] = edit.variant
        flag["targeting"] = {}
    return decide_put(content, key, {**entry, "flag": flag}, who)


def decide_kill(content: FlagSetContent, key: str, who: Who) -> FlagChange:
    """Flag ``key`` serves its off-variant to everyone, its targeting set aside; what ran
    is kept for :func:`decide_restore`. A killed flag stays as it is. No side effects."""
    entry = _existing(content, key)
    if content.held.get(key, {}).get("by") == "kill":
        return FlagChange(content)
    off = off_variant(key, entry["flag"])
    new = content.copy()
    _write(new, key, {**entry, "flag": {**entry["flag"], "defaultVariant": off, "targeting": {}}})
    new.document["flags"][key]["state"] = "ENABLED"
    # A guard's hold keeps its own "before": the kill takes over from the guard.
    before = content.held.get(key, {}).get("before", entry["flag"])
    new.held[key] = {"by": "kill", "before": before, "reason": who.reason}
    after = flag_entry(new, key)
    return FlagChange(new, [_history(FlagChangeKind.KILLED, key, who, entry, after)])


def decide_restore(content: FlagSetContent, key: str, who: Who) -> FlagChange:
    """Flag ``key`` back as it ran before the kill (or the guard) that holds it. No side
    effects; ConflictError when nothing holds it."""
    entry = _existing(content, key)
    held = content.held.get(key)
    if held is None:
        raise ConflictError(
            f"flag '{key}' is not killed; there is nothing to restore. "
            "'andon flags set' changes it."
        )
    new = content.copy()
    _write(new, key, {**entry, "flag": held["before"]})
    new.held.pop(key, None)
    after = flag_entry(new, key)
    return FlagChange(new, [_history(FlagChangeKind.RESTORED, key, who, entry, after)])


def decide_trip(content: FlagSetContent, key: str, trip: GuardTrip, who: Who) -> FlagChange:
    """Flag ``key`` serves the tripped guard's fallback to everyone, its targeting set
    aside and what ran kept for :func:`decide_untrip`. No side effects; no change when
    the flag is gone, already held (a person's kill wins over a guard) or serves the
    fallback to everyone already."""
    entry = flag_entry(content, key)
    if entry is None or key in content.held:
        return FlagChange(content)
    flag = entry["flag"]
    serving = flag.get("state", "ENABLED") == "ENABLED" and not flag.get("targeting")
    if serving and flag.get("defaultVariant") == trip.fallback:
        return FlagChange(content)
    new = content.copy()
    tripped = {**flag, "state": "ENABLED", "defaultVariant": trip.fallback, "targeting": {}}
    _write(new, key, {**entry, "flag": tripped})
    new.held[key] = {
        "by": "guard",
        "guard": trip.guard,
        "before": flag,
        "since": trip.at,
        "reason": who.reason,
        "evidence": trip.evidence,
    }
    history = _history(FlagChangeKind.GUARD_TRIPPED, key, who, entry, flag_entry(new, key))
    return FlagChange(new, [replace(history, evidence=trip.evidence)])


def decide_untrip(
    content: FlagSetContent, key: str, guard: int, who: Who, evidence: Mapping[str, Any]
) -> FlagChange:
    """Flag ``key`` back as it ran before guard ``guard`` tripped it. No side effects;
    no change unless that guard still holds it (a kill or a person's change since ended
    the guard's hold)."""
    held = content.held.get(key)
    entry = flag_entry(content, key)
    if entry is None or held is None or held.get("by") != "guard" or held.get("guard") != guard:
        return FlagChange(content)
    new = content.copy()
    _write(new, key, {**entry, "flag": held["before"]})
    new.held.pop(key, None)
    history = _history(FlagChangeKind.GUARD_RESTORED, key, who, entry, flag_entry(new, key))
    return FlagChange(new, [replace(history, evidence=dict(evidence))])


def decide_declared(
    content: FlagSetContent, declared: Mapping[str, Any], who: Who, now: str
) -> FlagChange:
    """What a deploy's andon.yaml declares (``document``, ``guards``, ``experiments``)
    applied over ``content``. No side effects.

    A flag still as andon.yaml last declared it takes the new declaration; one changed by
    hand since is left as it runs and gets a conflict, which a later declaration of the
    running flag ends. Flags andon.yaml no longer declares go, unless changed by hand.
    """
    new = content.copy()
    document = declared.get("document", {})
    wanted: dict[str, dict[str, Any] | None] = {
        key: {
            "flag": definition,
            "guards": declared.get("guards", {}).get(key, []),
            "experiment": declared.get("experiments", {}).get(key),
        }
        for key, definition in document.get("flags", {}).items()
    }
    wanted.update({key: None for key in content.declared if key not in wanted})
    history = []
    for key, target in wanted.items():
        running = flag_entry(content, key)
        baseline = content.declared.get(key)
        if running in (target, baseline):
            if running != target:
                _write(new, key, target)
                history.append(
                    _history(FlagChangeKind.DECLARED, key, who, running, flag_entry(new, key))
                )
            new.conflicts.pop(key, None)
            _remember(new.declared, key, target)
        else:
            new.conflicts[key] = {"declared": target, "at": now, "by": who.actor}
    for section in ("$evaluators", "metadata"):
        merged = {**content.document.get(section, {}), **document.get(section, {})}
        if merged:
            new.document[section] = merged
    if new == content:
        return FlagChange(content)
    return FlagChange(new, history)


def _existing(content: FlagSetContent, key: str) -> dict[str, Any]:
    entry = flag_entry(content, key)
    if entry is None:
        known = ", ".join(content.document.get("flags", {})) or "none yet"
        raise NotFoundError(
            f"there is no flag '{key}' in this environment (its flags: {known}); declare it "
            "in andon.yaml or PUT it."
        )
    return entry


def _write(content: FlagSetContent, key: str, entry: Mapping[str, Any] | None) -> None:
    flags = content.document.setdefault("flags", {})
    if entry is None:
        flags.pop(key, None)
        content.guards.pop(key, None)
        content.experiments.pop(key, None)
        return
    # Copies: the new content must share nothing with the content it was decided from.
    flags[key] = copy.deepcopy(entry["flag"])
    _remember(content.guards, key, copy.deepcopy(entry.get("guards")) or None)
    _remember(content.experiments, key, copy.deepcopy(entry.get("experiment")))


def _remember(mapping: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        mapping.pop(key, None)
    else:
        mapping[key] = value


def _history(
    kind: FlagChangeKind,
    key: str,
    who: Who,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> NewFlagHistory:
    return NewFlagHistory(kind, key, who.actor, who.reason, before, after)
