"""Feature flags in the store, on SQLite and PostgreSQL: flag sets changed by
compare-and-set on their version (also under concurrent writers), their history, client
tokens kept as hashes, exposures and conversions kept once per unit, and SDK clients."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect

from andon.errors import NotFoundError
from andon.store import (
    Conversion,
    Exposure,
    FlagChangeKind,
    FlagSetContent,
    NewFlagHistory,
    Store,
    open_store,
)
from andon.store._engine import create_store_engine
from andon.store._migrating import (
    alembic_config,
    current_revision,
    head_revision,
    migrating_connection,
)
from andon.store._urls import parse_url

T0 = datetime(2025, 12, 1, 12, 0, tzinfo=UTC)


def content(variant: str = "off") -> FlagSetContent:
    flag = {"variants": {"on": True, "off": False}, "defaultVariant": variant}
    return FlagSetContent(document={"flags": {"new-checkout": flag}})


def entry(kind: FlagChangeKind = FlagChangeKind.SET, **changes: Any) -> NewFlagHistory:
    fields: dict[str, Any] = {
        "kind": kind,
        "flag": "new-checkout",
        "actor": "ada",
        "reason": "launch",
        "before": None,
        "after": {"flag": {"defaultVariant": "on"}},
    }
    fields.update(changes)
    return NewFlagHistory(**fields)


def test_a_flag_set_that_never_changed_is_empty_at_version_0(store: Store) -> None:
    record = store.flags.get("shop", "prod")

    assert (record.version, record.content, record.updated_at) == (0, FlagSetContent(), None)
    assert store.flags.version("shop", "prod") == 0


def test_each_change_is_the_next_version_with_its_history(store: Store, clock: Any) -> None:
    first = store.flags.replace(
        "shop", "prod", expected_version=0, content=content(), history=[entry()]
    )
    second = store.flags.replace(
        "shop", "prod", expected_version=1, content=content("on"), history=[entry()]
    )

    assert first is not None and second is not None
    assert (first.version, second.version) == (1, 2)
    assert store.flags.get("shop", "prod").content == content("on")
    assert store.flags.version("shop", "prod") == 2
    history = store.flags.history("shop", "prod")
    assert [(h.version, h.kind, h.actor, h.at) for h in history] == [
        (2, FlagChangeKind.SET, "ada", clock.now),
        (1, FlagChangeKind.SET, "ada", clock.now),
    ]
    assert history[0].to_dict()["after"] == {"flag": {"defaultVariant": "on"}}


def test_a_change_decided_on_an_old_version_writes_nothing(store: Store) -> None:
    store.flags.replace("shop", "prod", expected_version=0, content=content(), history=[entry()])

    stale = store.flags.replace(
        "shop", "prod", expected_version=0, content=content("on"), history=[entry()]
    )
    also_stale = store.flags.replace(
        "shop", "prod", expected_version=5, content=content("on"), history=[entry()]
    )

    assert stale is None and also_stale is None
    assert store.flags.get("shop", "prod").content == content()
    assert len(store.flags.history("shop", "prod")) == 1


def test_concurrent_writers_never_get_the_same_version(store: Store) -> None:
    won: list[int] = []
    lock = threading.Lock()

    def write(index: int) -> None:
        for _ in range(50):
            seen = store.flags.version("shop", "prod")
            written = store.flags.replace(
                "shop",
                "prod",
                expected_version=seen,
                content=content("on" if index % 2 else "off"),
                history=[entry(reason=f"writer {index}")],
            )
            if written is not None:
                with lock:
                    won.append(written.version)
                return
        raise AssertionError(f"writer {index} never got its change in")

    threads = [threading.Thread(target=write, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(won) == [1, 2, 3, 4, 5, 6]
    assert sorted(h.version for h in store.flags.history("shop", "prod")) == [1, 2, 3, 4, 5, 6]


def test_flag_sets_of_environments_and_projects_are_apart(store: Store) -> None:
    store.flags.replace("shop", "prod", expected_version=0, content=content(), history=[])

    assert store.flags.version("shop", "staging") == 0
    assert store.flags.version("blog", "prod") == 0
    assert store.flags.history("shop", "staging") == []


def test_a_note_records_history_at_the_current_version_without_a_change(store: Store) -> None:
    store.flags.replace("shop", "prod", expected_version=0, content=content(), history=[])

    version = store.flags.note(
        "shop",
        "prod",
        [entry(FlagChangeKind.GUARD_TRIPPED, before=None, after=None, evidence={"failures": 3})],
    )

    assert version == 1
    [noted] = store.flags.history("shop", "prod", flag="new-checkout")
    assert (noted.version, noted.kind, noted.evidence) == (
        1,
        FlagChangeKind.GUARD_TRIPPED,
        {"failures": 3},
    )
    assert (noted.before, noted.after) == (None, None)
    assert store.flags.version("shop", "prod") == 1


def test_history_of_one_flag_and_its_limit(store: Store) -> None:
    store.flags.replace(
        "shop",
        "prod",
        expected_version=0,
        content=content(),
        history=[entry(), entry(flag="banner"), entry(flag="banner")],
    )

    assert len(store.flags.history("shop", "prod", flag="banner")) == 2
    assert len(store.flags.history("shop", "prod", limit=1)) == 1


def test_tokens_are_found_by_hash_listed_and_revoked(store: Store, clock: Any) -> None:
    made = store.flag_tokens.create(
        project="shop", environment="prod", name="web", token_hash="ab" * 32
    )
    store.flag_tokens.create(project="shop", environment="dev", name="web", token_hash="cd" * 32)

    assert store.flag_tokens.find("ab" * 32) == made
    assert store.flag_tokens.find("ef" * 32) is None
    assert [t.name for t in store.flag_tokens.list("shop", "prod")] == ["web"]
    assert "token_hash" not in made.to_dict()

    clock.advance(minutes=1)
    store.flag_tokens.touch(made.id, clock.now)
    revoked = store.flag_tokens.revoke("shop", "prod", made.id)
    assert revoked.revoked and revoked.revoked_at == clock.now
    assert revoked.last_used_at == clock.now
    clock.advance(minutes=1)
    assert store.flag_tokens.revoke("shop", "prod", made.id).revoked_at == revoked.revoked_at


def test_revoking_a_token_of_another_environment_is_not_found(store: Store) -> None:
    made = store.flag_tokens.create(
        project="shop", environment="prod", name="web", token_hash="ab" * 32
    )

    with pytest.raises(NotFoundError, match="has no flag token #"):
        store.flag_tokens.revoke("shop", "dev", made.id)


def test_a_units_earliest_exposure_wins_whatever_the_order(store: Store) -> None:
    events = store.flag_events
    events.add_exposures(
        "shop", "prod", [Exposure("new-checkout", "on", "u1", T0 + timedelta(seconds=5))]
    )
    events.add_exposures(
        "shop",
        "prod",
        [
            Exposure("new-checkout", "off", "u1", T0),
            Exposure("new-checkout", "on", "u1", T0 + timedelta(seconds=9)),
            Exposure("new-checkout", "on", "u2", T0 + timedelta(seconds=1)),
        ],
    )
    events.add_exposures(
        "shop", "prod", [Exposure("new-checkout", "on", "u1", T0 + timedelta(seconds=1))]
    )

    assert events.exposures("shop", "prod", "new-checkout") == [
        Exposure("new-checkout", "off", "u1", T0),
        Exposure("new-checkout", "on", "u2", T0 + timedelta(seconds=1)),
    ]
    assert events.exposures("shop", "dev", "new-checkout") == []


def test_conversions_keep_each_units_first_and_last_event(store: Store) -> None:
    events = store.flag_events
    events.add_conversions("shop", "prod", [Conversion("checkout", "u1", T0)])
    events.add_conversions(
        "shop",
        "prod",
        [
            Conversion("checkout", "u1", T0 + timedelta(seconds=30)),
            Conversion("checkout", "u1", T0 - timedelta(seconds=30)),
            Conversion("checkout", "u2", T0),
        ],
    )

    assert events.conversions("shop", "prod", "checkout") == [
        ("u1", T0 - timedelta(seconds=30), T0 + timedelta(seconds=30)),
        ("u2", T0, T0),
    ]


def test_clients_report_what_they_serve_and_what_they_tripped(store: Store, clock: Any) -> None:
    events = store.flag_events
    events.report_client("shop", "prod", "c-1", applied=3, tripped=["new-checkout#1"])
    clock.advance(seconds=10)
    later = events.report_client("shop", "prod", "c-1")
    events.report_client("shop", "prod", "c-2", applied=4, at=clock.now - timedelta(minutes=5))

    assert (later.applied, later.tripped, later.last_seen) == (3, ["new-checkout#1"], clock.now)
    seen = events.clients("shop", "prod", seen_since=clock.now - timedelta(minutes=1))
    assert [client.client for client in seen] == ["c-1"]
    assert [client.client for client in events.clients("shop", "prod")] == ["c-1", "c-2"]
    cleared = events.report_client("shop", "prod", "c-1", applied=4, tripped=[])
    assert (cleared.applied, cleared.tripped) == (4, [])
    assert events.client("shop", "prod", "nobody") is None


FLAG_TABLES = {
    "flag_sets",
    "flag_history",
    "flag_tokens",
    "flag_exposures",
    "flag_conversions",
    "flag_clients",
}


def test_downgrading_to_0004_drops_the_flag_tables_and_upgrading_brings_them_back(
    database_url: str,
) -> None:
    with open_store(database_url) as store:
        assert store.schema_revision() == head_revision()
        store.flags.replace("shop", "prod", expected_version=0, content=content(), history=[])
    engine = create_store_engine(parse_url(database_url))
    try:
        with migrating_connection(engine) as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0004")

        assert current_revision(engine) == "0004"
        tables = set(inspect(engine).get_table_names())
        assert FLAG_TABLES.isdisjoint(tables)
        assert "rollouts" in tables
    finally:
        engine.dispose()

    with open_store(database_url) as store:
        assert store.flags.version("shop", "prod") == 0
