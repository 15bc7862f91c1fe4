"""Users, their roles per project, API tokens and freeze windows as stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import inspect

from andon.errors import ConflictError, NotFoundError
from andon.store import EVERY_PROJECT, Role, Store, open_store
from andon.store._engine import create_store_engine
from andon.store._migrating import alembic_config, migrating_connection
from andon.store._urls import parse_url

from .conftest import FakeClock


def test_roles_are_per_project_and_every_project_covers_all(store: Store) -> None:
    store.users.create("ann", by="admin")
    store.users.set_role("ann", "shop", Role.DEPLOYER)
    store.users.set_role("ann", "blog", Role.VIEWER)
    ann = store.users.get("ann")

    assert ann.role_in("shop") is Role.DEPLOYER
    assert ann.role_in("blog") is Role.VIEWER
    assert ann.role_in("other") is None
    assert ann.role_in(None) is None

    store.users.set_role("ann", EVERY_PROJECT, Role.VIEWER)
    store.users.set_role("ann", "blog", None)
    ann = store.users.get("ann")
    assert (ann.role_in("other"), ann.role_in("shop"), ann.role_in(None)) == (
        Role.VIEWER,
        Role.DEPLOYER,
        Role.VIEWER,
    )
    assert ann.to_dict()["roles"] == {"*": "viewer", "shop": "deployer"}
    assert Role.ADMIN.allows(Role.DEPLOYER) and not Role.VIEWER.allows(Role.DEPLOYER)


def test_a_taken_name_and_an_unknown_user_are_refused(store: Store) -> None:
    store.users.create("ann", by="admin")
    with pytest.raises(ConflictError, match="exists already"):
        store.users.create("ann", by="admin")
    with pytest.raises(NotFoundError, match="no user bo"):
        store.users.set_role("bo", "shop", Role.ADMIN)
    assert [u.name for u in store.users.list()] == ["ann"] and store.users.count() == 1


def test_tokens_are_found_by_hash_and_expire_or_are_revoked(store: Store, clock: FakeClock) -> None:
    store.users.create("ann", by="admin")
    kept = store.api_tokens.create(user="ann", name="laptop", token_hash="a" * 64)
    brief = store.api_tokens.create(
        user="ann", name="ci", token_hash="b" * 64, expires_at=clock.now + timedelta(hours=1)
    )
    assert store.api_tokens.find("a" * 64) == kept
    assert store.api_tokens.find("c" * 64) is None

    clock.advance(hours=2)
    assert brief.state(clock.now) == "expired" and kept.state(clock.now) == "active"
    revoked = store.api_tokens.revoke(kept.id)
    assert revoked.state(clock.now) == "revoked"
    assert "token_hash" not in revoked.to_dict(clock.now)
    assert [t.id for t in store.api_tokens.list("ann")] == [kept.id, brief.id]


def test_freeze_windows_hold_between_their_times_until_lifted(
    store: Store, clock: FakeClock
) -> None:
    now = clock.now
    window = store.freezes.create(
        project="shop",
        environment="prod",
        starts_at=now + timedelta(hours=1),
        ends_at=now + timedelta(hours=3),
        reason="black friday",
        by="ann",
    )
    assert store.freezes.active("shop", "prod", now) == []
    clock.advance(hours=2)
    assert store.freezes.active("shop", "prod", clock.now) == [window]
    assert store.freezes.active("shop", "test", clock.now) == []
    with pytest.raises(NotFoundError, match="environment test of shop has no freeze"):
        store.freezes.lift("shop", "test", window.id)
    lifted = store.freezes.lift("shop", "prod", window.id)
    assert not lifted.active(clock.now)
    assert store.freezes.active("shop", "prod", clock.now) == []
    with pytest.raises(NotFoundError):
        store.freezes.lift("blog", "prod", window.id)


def test_downgrading_to_0005_drops_the_tables_of_people_and_upgrading_brings_them_back(
    database_url: str,
) -> None:
    tables = {"users", "grants", "api_tokens", "freezes", "audit_entries"}
    with open_store(database_url) as store:
        store.users.create("ann", by="admin")
    engine = create_store_engine(parse_url(database_url))
    try:
        for revision, present in (("0005", set()), ("head", tables)):
            with migrating_connection(engine) as connection:
                config = alembic_config()
                config.attributes["connection"] = connection
                step = command.downgrade if revision == "0005" else command.upgrade
                step(config, revision)
            assert tables & set(inspect(engine).get_table_names()) == present
    finally:
        engine.dispose()
