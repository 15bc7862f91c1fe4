"""The audit trail holds as a chain: verify passes on an untouched trail and names the
first broken entry after one is edited, removed or moved, directly in the database."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import delete, update

from andon.store import Store
from andon.store._tables import audit_entries

from .conftest import FakeClock


def fill(store: Store, count: int) -> None:
    for number in range(count):
        store.audit.append(
            actor="ann",
            action="flag.set",
            target=f"shop/prod/flag-{number}",
            before={"state": "DISABLED"},
            after={"state": "ENABLED", "weight": 0.5, "note": "ünïcode"},
        )


def test_an_untouched_trail_verifies_and_lists_newest_first(store: Store, clock: FakeClock) -> None:
    fill(store, 5)
    clock.advance(minutes=5)
    store.audit.append(actor="bo", action="rollout.approve", target="shop/prod#3")

    check = store.audit.verify()
    assert (check.ok, check.entries, check.broken) == (True, 6, None)
    assert check.head == store.audit.list(limit=1)[0].hash

    listed = store.audit.list()
    assert [e.id for e in listed] == [6, 5, 4, 3, 2, 1]
    assert [e.id for e in store.audit.list(actor="bo")] == [6]
    assert [e.id for e in store.audit.list(action="rollout")] == [6]
    assert [e.id for e in store.audit.list(since=clock.now - timedelta(minutes=1))] == [6]
    assert listed[-1].after == {"state": "ENABLED", "weight": 0.5, "note": "ünïcode"}


def test_an_edited_entry_is_named(store: Store) -> None:
    fill(store, 5)
    with store.engine.begin() as connection:
        connection.execute(
            update(audit_entries).where(audit_entries.c.id == 3).values(actor="mallory")
        )

    check = store.audit.verify()
    assert (check.ok, check.broken, check.entries) == (False, 3, 2)
    assert "#3 was changed" in check.reason


def test_an_edit_that_also_rewrites_the_hash_breaks_the_next_link(store: Store) -> None:
    fill(store, 5)
    entry = store.audit.list()[2]  # number 3
    forged = type(entry)(**{**entry.to_dict(), "at": entry.at, "after": {"state": "forged"}})
    rehashed = forged.expected_hash()
    with store.engine.begin() as connection:
        connection.execute(
            update(audit_entries)
            .where(audit_entries.c.id == 3)
            .values(after={"state": "forged"}, hash=rehashed)
        )

    check = store.audit.verify()
    assert check.broken == 4 and "does not link to #3" in check.reason


def test_a_removed_entry_is_named(store: Store) -> None:
    fill(store, 5)
    with store.engine.begin() as connection:
        connection.execute(delete(audit_entries).where(audit_entries.c.id == 2))

    check = store.audit.verify()
    assert check.broken == 3 and "#2 is missing" in check.reason


def test_swapped_entries_are_named(store: Store) -> None:
    fill(store, 4)
    two, three = sorted(store.audit.list(), key=lambda e: e.id)[1:3]
    with store.engine.begin() as connection:
        for entry, other in ((two, three), (three, two)):
            connection.execute(
                update(audit_entries)
                .where(audit_entries.c.id == entry.id)
                .values(target=other.target, hash=other.hash, previous_hash=other.previous_hash)
            )

    assert store.audit.verify().broken == 2


def test_writers_on_several_threads_keep_one_chain(store: Store) -> None:
    threads = [threading.Thread(target=fill, args=(store, 10)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    check = store.audit.verify()
    assert (check.ok, check.entries) == (True, 40), check.reason
