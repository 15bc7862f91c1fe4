"""Secrets: the key (given or generated once, private), encryption at rest, declared names,
and values that never reach a message."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from andon.environments import (
    DatabaseInfo,
    SecretBox,
    SecretVault,
    check_secret_name,
    load_secret_key,
    secret_values,
)
from andon.errors import ConfigurationError, NotFoundError, UsageError
from andon.settings import Settings
from andon.spec import AndonSpec, DatabaseEngine
from andon.store import Store, open_store

VALUE = "pk_live_51HvLs3cret"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'andon.db'}") as opened:
        yield opened


@pytest.fixture
def vault(store: Store, settings: Settings) -> SecretVault:
    return SecretVault(store.secrets, SecretBox.from_settings(settings))


def test_a_key_is_generated_once_into_a_private_file(settings: Settings) -> None:
    key = load_secret_key(settings)

    assert stat.S_IMODE(settings.secret_key_file.stat().st_mode) == 0o600
    assert load_secret_key(settings) == key
    Fernet(key)


def test_processes_starting_together_agree_on_one_generated_key(settings: Settings) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _: load_secret_key(settings), range(16)))

    assert len(keys) == 1
    assert [p.name for p in settings.home.iterdir()] == ["secret.key"]


def test_a_key_file_readable_by_others_is_refused_in_one_line(settings: Settings) -> None:
    load_secret_key(settings)
    settings.secret_key_file.chmod(0o644)

    with pytest.raises(ConfigurationError) as caught:
        load_secret_key(settings)

    message = str(caught.value)
    assert message == (
        f"{settings.secret_key_file} is readable by others (mode 0644); run chmod 600 "
        f"{settings.secret_key_file} and try again."
    )
    assert "\n" not in message


def test_a_damaged_key_file_is_refused(settings: Settings) -> None:
    settings.home.mkdir(parents=True)
    settings.secret_key_file.write_text("not a key\n")
    settings.secret_key_file.chmod(0o600)

    with pytest.raises(ConfigurationError, match="does not hold a Fernet key"):
        load_secret_key(settings)


def test_andon_secret_key_is_used_instead_of_a_file(andon_home: Path) -> None:
    key = Fernet.generate_key().decode()
    settings = Settings.from_env({"ANDON_HOME": str(andon_home), "ANDON_SECRET_KEY": key})

    assert load_secret_key(settings) == key.encode()
    assert not settings.secret_key_file.exists()
    assert key not in repr(settings)


def test_an_invalid_andon_secret_key_is_refused_without_echoing_it(andon_home: Path) -> None:
    settings = Settings.from_env({"ANDON_HOME": str(andon_home), "ANDON_SECRET_KEY": "hunter2"})

    with pytest.raises(ConfigurationError, match="ANDON_SECRET_KEY is not a Fernet key") as caught:
        load_secret_key(settings)

    assert "hunter2" not in str(caught.value)


def test_a_box_decrypts_what_it_encrypted_and_the_ciphertext_hides_the_value() -> None:
    box = SecretBox(Fernet.generate_key())

    ciphertext = box.encrypt(VALUE)

    assert VALUE not in ciphertext
    assert box.decrypt(ciphertext) == VALUE
    assert box.encrypt(VALUE) != ciphertext


def test_another_key_says_which_secrets_and_what_to_set() -> None:
    ciphertext = SecretBox(Fernet.generate_key()).encrypt(VALUE)

    with pytest.raises(ConfigurationError) as caught:
        SecretBox(Fernet.generate_key()).decrypt(ciphertext, owner="shop/staging")

    assert str(caught.value) == (
        "the secrets of shop/staging were encrypted with another key; set ANDON_SECRET_KEY "
        "to the key they were made with."
    )


def test_only_declared_names_are_secrets(shop_spec: AndonSpec) -> None:
    assert check_secret_name(shop_spec, "PAYMENT_API_KEY") == "PAYMENT_API_KEY"
    with pytest.raises(UsageError, match=r"PAYMENT_KEY is not a secret of shop \(did you mean"):
        check_secret_name(shop_spec, "PAYMENT_KEY")


def test_a_spec_without_secrets_says_to_declare_the_name(shop_spec: AndonSpec) -> None:
    bare = shop_spec.model_copy(update={"secrets": []})

    with pytest.raises(UsageError, match="declares no secrets; add TOKEN to its 'secrets' list"):
        check_secret_name(bare, "TOKEN")


def test_the_vault_keeps_only_ciphertext_and_reveals_the_values(
    vault: SecretVault, store: Store, shop_spec: AndonSpec
) -> None:
    vault.set(shop_spec, "shop", "staging", "PAYMENT_API_KEY", VALUE)

    assert VALUE not in store.secrets.get("shop", "staging", "PAYMENT_API_KEY")
    assert vault.names("shop", "staging") == ["PAYMENT_API_KEY"]
    assert vault.reveal("shop", "staging") == {"PAYMENT_API_KEY": VALUE}
    assert vault.reveal("shop", "prod") == {}
    assert vault.missing(shop_spec, "shop", "prod") == ["PAYMENT_API_KEY"]
    assert vault.missing(shop_spec, "shop", "staging") == []


def test_the_vault_refuses_an_undeclared_name_and_stores_nothing(
    vault: SecretVault, shop_spec: AndonSpec
) -> None:
    with pytest.raises(UsageError) as caught:
        vault.set(shop_spec, "shop", "staging", "STRIPE_KEY", VALUE)

    assert VALUE not in str(caught.value)
    assert vault.names("shop", "staging") == []


def test_secrets_made_with_another_key_name_their_environment(
    store: Store, shop_spec: AndonSpec
) -> None:
    SecretVault(store.secrets, SecretBox(Fernet.generate_key())).set(
        shop_spec, "shop", "staging", "PAYMENT_API_KEY", VALUE
    )
    other = SecretVault(store.secrets, SecretBox(Fernet.generate_key()))

    with pytest.raises(ConfigurationError, match="the secrets of shop/staging were encrypted"):
        other.reveal("shop", "staging")


def test_removing_a_secret_forgets_it(vault: SecretVault, shop_spec: AndonSpec) -> None:
    vault.set(shop_spec, "shop", "staging", "PAYMENT_API_KEY", VALUE)

    vault.remove("shop", "staging", "PAYMENT_API_KEY")

    assert vault.names("shop", "staging") == []
    with pytest.raises(NotFoundError):
        vault.remove("shop", "staging", "PAYMENT_API_KEY")


def test_secret_values_lists_each_value_once_longest_first_with_the_database_password() -> None:
    database = DatabaseInfo(
        engine=DatabaseEngine.POSTGRES,
        url="postgresql://app:p%40ss@db:5432/andon_shop_prod",
        name="andon_shop_prod",
    )

    values = secret_values(
        {"A": "short", "B": "a-longer-one", "C": "short", "D": ""}, database=database
    )

    assert values == ["a-longer-one", "p%40ss", "short", "p@ss"]
