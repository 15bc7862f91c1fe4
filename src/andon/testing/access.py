"""Signing in, in a test: :func:`admin_token` is the token of the user ``admin`` that a
server's first start makes (made now, as that start would, when the store has no user
yet); :func:`bearer` is the header that sends it, :func:`user_bearer` that of another
user with a given role."""

from __future__ import annotations

from andon.server.access import bootstrap_admin, hash_token, new_token
from andon.settings import Settings
from andon.store import EVERY_PROJECT, Role, Store


def admin_token(settings: Settings, store: Store) -> str:
    """The admin's API token from ``settings.home``, made first if need be."""
    bootstrap_admin(settings, store)
    return settings.token_file.read_text("utf-8").strip()


def bearer(settings: Settings, store: Store) -> dict[str, str]:
    """``Authorization: Bearer`` with the admin's token."""
    return {"Authorization": f"Bearer {admin_token(settings, store)}"}


def user_bearer(
    store: Store, name: str, role: Role = Role.DEPLOYER, project: str = EVERY_PROJECT
) -> dict[str, str]:
    """``Authorization: Bearer`` with a new token of user ``name`` (made if need be, with
    ``role`` in ``project``)."""
    if store.users.find(name) is None:
        store.users.create(name, by="test")
    store.users.set_role(name, project, role)
    token = new_token()
    store.api_tokens.create(user=name, name="test", token_hash=hash_token(token))
    return {"Authorization": f"Bearer {token}"}


def home_bearer(settings: Settings | None = None) -> dict[str, str]:
    """``Authorization: Bearer`` with the token a running server's first start wrote to
    its ``ANDON_HOME`` (that of ``ANDON_HOME`` now, unless ``settings`` say another)."""
    token = (settings or Settings.from_env()).token_file.read_text("utf-8").strip()
    return {"Authorization": f"Bearer {token}"}
