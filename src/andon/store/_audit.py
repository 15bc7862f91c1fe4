"""The audit trail: an append-only record of every mutating action, each entry carrying
the hash of the one before it — the ``AuditRepository``.

An entry's hash is the SHA-256 of its number, time, actor, action, target, before and
after, and the previous entry's hash, as canonical JSON. Editing an entry changes what its
hash should be; removing one leaves a gap in the numbers and a link that points nowhere;
moving entries breaks both. :meth:`AuditRepository.verify` walks the trail and names the
first entry where any of that shows. Appends are serialised (SQLite's write lock taken at
BEGIN, a table lock on PostgreSQL) so that two writers never link to the same entry.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, text

from andon.store._engine import WRITE_LOCK_OPTION
from andon.store._repository import Repository, aware_utc, iso_utc
from andon.store._tables import audit_entries

GENESIS = "0" * 64
"""What the first entry's ``previous_hash`` is."""

_PAGE = 500


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One action: who did what to what, when, and what changed."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: Any
    after: Any
    previous_hash: str
    hash: str

    def expected_hash(self) -> str:
        """What the hash of this entry's content and link is."""
        content = [
            self.id,
            iso_utc(self.at),
            self.actor,
            self.action,
            self.target,
            self.before,
            self.after,
            self.previous_hash,
        ]
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": iso_utc(self.at),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "before": self.before,
            "after": self.after,
            "previous_hash": self.previous_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """What :meth:`AuditRepository.verify` found: how many entries it walked, the last
    hash, and the first broken entry (None when the chain holds) and why."""

    entries: int
    head: str
    broken: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head": self.head,
            "broken": self.broken,
            "reason": self.reason,
        }


class AuditRepository(Repository):
    """Appends to, lists and verifies the audit trail; reached as ``store.audit``."""

    def append(
        self, *, actor: str, action: str, target: str, before: Any = None, after: Any = None
    ) -> AuditEntry:
        """Record an action now, linked to the last entry. ``before`` and ``after`` must be
        JSON values (they are stored and hashed as such)."""
        now = self._now()
        # Milliseconds: every database keeps them, so the hash survives the round trip.
        at = now.replace(microsecond=now.microsecond // 1000 * 1000)
        before, after = _json(before), _json(after)
        with self._transaction() as session:
            if self._url.get_backend_name() == "sqlite":
                session.connection(execution_options={WRITE_LOCK_OPTION: True})
            else:
                session.execute(text("LOCK TABLE audit_entries IN SHARE ROW EXCLUSIVE MODE"))
            last = session.execute(
                select(audit_entries.c.id, audit_entries.c.hash)
                .order_by(audit_entries.c.id.desc())
                .limit(1)
            ).first()
            number, previous = (1, GENESIS) if last is None else (last.id + 1, last.hash)
            draft = AuditEntry(number, at, actor, action, target, before, after, previous, "")
            entry = replace(draft, hash=draft.expected_hash())
            session.execute(insert(audit_entries).values(**asdict(entry)))
        return entry

    def list(
        self,
        *,
        since: datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 100,
    ) -> builtins.list[AuditEntry]:
        """The newest entries first, at most ``limit``, filtered by time, actor and action
        (an action matches itself and its prefix: ``rollout`` matches ``rollout.approve``)."""
        query = select(audit_entries).order_by(audit_entries.c.id.desc()).limit(limit)
        if since is not None:
            query = query.where(audit_entries.c.at >= aware_utc(since, "since"))
        if actor is not None:
            query = query.where(audit_entries.c.actor == actor)
        if action is not None:
            query = query.where(
                (audit_entries.c.action == action)
                | audit_entries.c.action.startswith(f"{action}.", autoescape=True)
            )
        return self._fetch_all(query, _entry)

    def walk(self) -> Iterator[AuditEntry]:
        """Every entry in order, a page at a time."""
        after = 0
        while True:
            page = self._fetch_all(
                select(audit_entries)
                .where(audit_entries.c.id > after)
                .order_by(audit_entries.c.id)
                .limit(_PAGE),
                _entry,
            )
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1].id

    def verify(self) -> AuditCheck:
        """Walk the trail and check every entry's hash and link; the first broken one."""
        expected_number, previous, count = 1, GENESIS, 0
        for entry in self.walk():
            if entry.id != expected_number:
                missing = (
                    f"#{expected_number}"
                    if entry.id == expected_number + 1
                    else f"#{expected_number} to #{entry.id - 1}"
                )
                return AuditCheck(
                    count,
                    previous,
                    entry.id,
                    f"entry {missing} is missing: #{entry.id} follows #{expected_number - 1}",
                )
            if entry.expected_hash() != entry.hash:
                return AuditCheck(
                    count,
                    previous,
                    entry.id,
                    f"entry #{entry.id} was changed: its content does not match its hash",
                )
            if entry.previous_hash != previous:
                return AuditCheck(
                    count,
                    previous,
                    entry.id,
                    f"entry #{entry.id} does not link to #{entry.id - 1}: the hash it "
                    "carries of the entry before it is not that entry's",
                )
            expected_number, previous, count = entry.id + 1, entry.hash, count + 1
        return AuditCheck(count, previous)


def _json(value: Any) -> Any:
    """``value`` as it comes back from a JSON column."""
    return None if value is None else json.loads(json.dumps(value, default=str))


def _entry(row: Row[Any]) -> AuditEntry:
    return AuditEntry(**dict(row._mapping))
