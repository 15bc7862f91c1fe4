"""Encrypted secrets on SQLite and PostgreSQL: set (and replace), get, names, all, remove."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from andon.errors import NotFoundError
from andon.store import Store, metadata


def test_a_secret_set_reads_back_as_its_ciphertext(store: Store) -> None:
    store.secrets.set("shop", "staging", "PAYMENT_API_KEY", "gAAAA-one")

    assert store.secrets.get("shop", "staging", "PAYMENT_API_KEY") == "gAAAA-one"


def test_setting_a_name_again_replaces_it_and_keeps_its_creation_time(
    store: Store, clock: Any
) -> None:
    created = clock.now
    store.secrets.set("shop", "staging", "PAYMENT_API_KEY", "gAAAA-one")
    clock.advance(minutes=5)

    store.secrets.set("shop", "staging", "PAYMENT_API_KEY", "gAAAA-two")

    assert store.secrets.get("shop", "staging", "PAYMENT_API_KEY") == "gAAAA-two"
    with store.engine.connect() as connection:
        [row] = connection.execute(select(metadata.tables["secrets"])).all()
    assert (row.created_at, row.updated_at) == (created, clock.now)


def test_names_and_all_are_per_environment_and_sorted(store: Store) -> None:
    store.secrets.set("shop", "staging", "ZED", "z")
    store.secrets.set("shop", "staging", "ALPHA", "a")
    store.secrets.set("shop", "prod", "ALPHA", "p")
    store.secrets.set("web", "staging", "OTHER", "o")

    assert store.secrets.names("shop", "staging") == ["ALPHA", "ZED"]
    assert store.secrets.all("shop", "staging") == {"ALPHA": "a", "ZED": "z"}
    assert list(store.secrets.all("shop", "staging")) == ["ALPHA", "ZED"]
    assert store.secrets.all("shop", "prod") == {"ALPHA": "p"}
    assert store.secrets.names("shop", "dev") == []


def test_a_secret_not_set_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="secret TOKEN is not set for shop/staging"):
        store.secrets.get("shop", "staging", "TOKEN")


def test_removing_forgets_one_secret_and_a_second_removal_is_not_found(store: Store) -> None:
    store.secrets.set("shop", "staging", "A", "a")
    store.secrets.set("shop", "staging", "B", "b")

    store.secrets.remove("shop", "staging", "A")

    assert store.secrets.names("shop", "staging") == ["B"]
    with pytest.raises(NotFoundError):
        store.secrets.remove("shop", "staging", "A")
