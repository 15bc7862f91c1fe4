"""What the flag SDKs report: exposures and conversions of experiments' units, and the
SDK clients themselves (the flag-set version each serves, the guards each has tripped).

The server's events endpoint hands each batch to ``store.flag_events``. Exposures and
conversions are kept once per unit, whichever batch brings them and in whatever order:
an upsert keeps the earliest exposure (its variant wins) and the first and last time a
unit tracked an event.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, and_, case, func, select
from sqlalchemy.dialects import postgresql, sqlite

from andon.store._repository import Repository, aware_utc, iso_utc
from andon.store._tables import flag_clients, flag_conversions, flag_exposures


@dataclass(frozen=True, slots=True)
class Exposure:
    """A unit (targeting key) served a variant of a flag at a time."""

    flag: str
    variant: str
    unit: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Conversion:
    """A unit that tracked an event at a time."""

    event: str
    unit: str
    at: datetime


@dataclass(frozen=True, slots=True)
class FlagClientRecord:
    """An SDK process as it last reported in."""

    project: str
    environment: str
    client: str
    applied: int | None
    """The flag-set version it serves; None until it says."""
    tripped: list[str]
    """``flag#index`` of each dependency guard it has tripped."""
    last_seen: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values; the time as ISO 8601 in UTC with a ``Z``."""
        return {
            "client": self.client,
            "applied": self.applied,
            "tripped": list(self.tripped),
            "last_seen": iso_utc(self.last_seen),
        }


class FlagEventRepository(Repository):
    """Keeps exposures, conversions and SDK clients; reached as ``store.flag_events``."""

    def add_exposures(self, project: str, environment: str, items: Iterable[Exposure]) -> int:
        """Keep each unit's earliest exposure to each flag; answers the units given."""
        earliest: dict[tuple[str, str], Exposure] = {}
        for item in items:
            key = (item.flag, item.unit)
            if key not in earliest or item.at < earliest[key].at:
                earliest[key] = item
        if not earliest:
            return 0
        rows = [
            {
                "project": project,
                "environment": environment,
                "flag": item.flag,
                "variant": item.variant,
                "unit": item.unit,
                "first_at": aware_utc(item.at, "at"),
            }
            for item in earliest.values()
        ]
        statement = self._insert(flag_exposures).values(rows)
        later = statement.excluded.first_at < flag_exposures.c.first_at
        statement = statement.on_conflict_do_update(
            index_elements=["project", "environment", "flag", "unit"],
            set_={"variant": statement.excluded.variant, "first_at": statement.excluded.first_at},
            where=later,
        )
        with self._transaction() as session:
            session.execute(statement)
        return len(rows)

    def add_conversions(self, project: str, environment: str, items: Iterable[Conversion]) -> int:
        """Keep the first and last time each unit tracked each event; answers the units given."""
        spans: dict[tuple[str, str], tuple[datetime, datetime]] = {}
        for item in items:
            at = aware_utc(item.at, "at")
            first, last = spans.get((item.event, item.unit), (at, at))
            spans[(item.event, item.unit)] = (min(first, at), max(last, at))
        if not spans:
            return 0
        rows = [
            {
                "project": project,
                "environment": environment,
                "event": event,
                "unit": unit,
                "first_at": first,
                "last_at": last,
            }
            for (event, unit), (first, last) in spans.items()
        ]
        statement = self._insert(flag_conversions).values(rows)
        new, old = statement.excluded, flag_conversions.c
        statement = statement.on_conflict_do_update(
            index_elements=["project", "environment", "event", "unit"],
            set_={
                "first_at": case((new.first_at < old.first_at, new.first_at), else_=old.first_at),
                "last_at": case((new.last_at > old.last_at, new.last_at), else_=old.last_at),
            },
        )
        with self._transaction() as session:
            session.execute(statement)
        return len(rows)

    def report_client(
        self,
        project: str,
        environment: str,
        client: str,
        *,
        applied: int | None = None,
        tripped: Iterable[str] | None = None,
        at: datetime | None = None,
    ) -> FlagClientRecord:
        """Record that ``client`` reported in at ``at`` (default now), with the version it
        serves and the guards it has tripped when given; what is not given stays."""
        now = self._given_or_now(at)
        row: dict[str, Any] = {
            "project": project,
            "environment": environment,
            "client": client,
            "applied": applied,
            "tripped": sorted(set(tripped or ())),
            "last_seen": now,
        }
        statement = self._insert(flag_clients).values(row)
        changes: dict[str, Any] = {"last_seen": statement.excluded.last_seen}
        if applied is not None:
            changes["applied"] = statement.excluded.applied
        if tripped is not None:
            changes["tripped"] = statement.excluded.tripped
        statement = statement.on_conflict_do_update(
            index_elements=["project", "environment", "client"], set_=changes
        ).returning(*flag_clients.c)
        with self._transaction() as session:
            stored = session.execute(statement).one()
        return _client(stored)

    def client(self, project: str, environment: str, client: str) -> FlagClientRecord | None:
        """The client as it last reported in, or None if it never did."""
        query = select(flag_clients).where(
            flag_clients.c.project == project,
            flag_clients.c.environment == environment,
            flag_clients.c.client == client,
        )
        return self._fetch_first(query, _client)

    def clients(
        self, project: str, environment: str, *, seen_since: datetime | None = None
    ) -> builtins.list[FlagClientRecord]:
        """The environment's clients (seen at or after ``seen_since``), by id."""
        query = (
            select(flag_clients)
            .where(flag_clients.c.project == project, flag_clients.c.environment == environment)
            .order_by(flag_clients.c.client)
        )
        if seen_since is not None:
            query = query.where(flag_clients.c.last_seen >= aware_utc(seen_since, "seen_since"))
        return self._fetch_all(query, _client)

    def exposures(self, project: str, environment: str, flag: str) -> builtins.list[Exposure]:
        """Each unit's first exposure to ``flag``, earliest first."""
        query = (
            select(flag_exposures)
            .where(
                flag_exposures.c.project == project,
                flag_exposures.c.environment == environment,
                flag_exposures.c.flag == flag,
            )
            .order_by(flag_exposures.c.first_at, flag_exposures.c.unit)
        )
        return self._fetch_all(
            query, lambda row: Exposure(row.flag, row.variant, row.unit, row.first_at)
        )

    def conversions(
        self, project: str, environment: str, event: str
    ) -> builtins.list[tuple[str, datetime, datetime]]:
        """``(unit, first_at, last_at)`` of each unit that tracked ``event``, by unit."""
        query = (
            select(flag_conversions)
            .where(
                flag_conversions.c.project == project,
                flag_conversions.c.environment == environment,
                flag_conversions.c.event == event,
            )
            .order_by(flag_conversions.c.unit)
        )
        return self._fetch_all(query, lambda row: (row.unit, row.first_at, row.last_at))

    def experiment_counts(
        self, project: str, environment: str, flag: str, event: str
    ) -> dict[str, tuple[int, int]]:
        """``(exposed, converted)`` units per variant of ``flag``: each unit counts for
        the variant of its first exposure, and converted when it tracked ``event`` at or
        after that exposure (its last time of ``event`` is not earlier)."""
        exposed, converted = flag_exposures, flag_conversions
        after = converted.c.last_at >= exposed.c.first_at
        query = (
            select(exposed.c.variant, func.count(), func.count(converted.c.unit))
            .select_from(
                exposed.outerjoin(
                    converted,
                    and_(
                        converted.c.project == exposed.c.project,
                        converted.c.environment == exposed.c.environment,
                        converted.c.event == event,
                        converted.c.unit == exposed.c.unit,
                        after,
                    ),
                )
            )
            .where(
                exposed.c.project == project,
                exposed.c.environment == environment,
                exposed.c.flag == flag,
            )
            .group_by(exposed.c.variant)
        )
        with self._transaction() as session:
            rows = session.execute(query).all()
        return {str(variant): (int(units), int(wins)) for variant, units, wins in rows}

    def _insert(self, table: Table) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT (both spell it alike)."""
        make: Callable[[Table], Any] = (
            postgresql.insert if self._url.get_backend_name() == "postgresql" else sqlite.insert
        )
        return make(table)


def _client(row: Row[Any]) -> FlagClientRecord:
    values = dict(row._mapping)
    values.pop("id")
    return FlagClientRecord(**values)
