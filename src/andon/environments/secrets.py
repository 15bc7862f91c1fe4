"""Secrets: values encrypted at rest, names declared in andon.yaml, values never shown.

``andon secret set`` and deploys go through :class:`SecretVault`, which checks each name
against andon.yaml (:func:`check_secret_name`), encrypts with a :class:`SecretBox` and keeps
only ciphertext in ``store.secrets``. The key is ``ANDON_SECRET_KEY`` or, when that is
unset, one generated once into ``ANDON_HOME/secret.key`` (mode 0600). Log writers mask
what :func:`secret_values` lists. No error message or log line here holds a value.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from cryptography.fernet import Fernet, InvalidToken

from andon.errors import ConfigurationError, UsageError
from andon.settings import Settings
from andon.spec import AndonSpec
from andon.spec.problems import did_you_mean
from andon.store import SecretRepository

if TYPE_CHECKING:  # pragma: no cover - typing only
    from andon.environments.databases import DatabaseInfo

_PRIVATE_MODE = 0o600
_SHARED_BITS = stat.S_IRWXG | stat.S_IRWXO
_KEY_HELP = (
    'a Fernet key: 32 random bytes in URL-safe base64, as python -c "from '
    'cryptography.fernet import Fernet; print(Fernet.generate_key().decode())" prints'
)


class SecretBox:
    """Encrypts and decrypts secret values with one Fernet key (AES-128-CBC with an
    HMAC-SHA256, so a wrong key or changed ciphertext is detected, never misread)."""

    def __init__(self, key: bytes | str) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            # The key itself must not appear in the message, not even in part.
            raise ConfigurationError(f"the secret key is not {_KEY_HELP}.") from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        """A box with the key :func:`load_secret_key` finds."""
        return cls(load_secret_key(settings))

    def encrypt(self, value: str) -> str:
        """``value`` encrypted, as URL-safe base64 text."""
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str, *, owner: str = "this store") -> str:
        """The value ``ciphertext`` holds; ConfigurationError naming ``owner`` (e.g.
        ``shop/staging``) when it was encrypted with another key or is damaged."""
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise ConfigurationError(
                f"the secrets of {owner} were encrypted with another key; set "
                "ANDON_SECRET_KEY to the key they were made with."
            ) from exc


def load_secret_key(settings: Settings) -> bytes:
    """``ANDON_SECRET_KEY``, or the key in ``ANDON_HOME/secret.key``, generated the first
    time (mode 0600). ConfigurationError when the key file is readable by others or is not
    a Fernet key."""
    if settings.secret_key:
        key = settings.secret_key.strip().encode("ascii", errors="replace")
        if not _is_fernet_key(key):
            raise ConfigurationError(f"ANDON_SECRET_KEY is not {_KEY_HELP}; unset it or fix it.")
        return key
    path = settings.secret_key_file
    if not path.exists():
        _generate_key_file(path)
    try:
        mode = path.stat().st_mode
        if mode & _SHARED_BITS:
            raise ConfigurationError(
                f"{path} is readable by others (mode {stat.S_IMODE(mode):04o}); "
                f"run chmod 600 {path} and try again."
            )
        key = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the secret key {path} ({(exc.strerror or str(exc)).lower()}); "
            "check its owner and permissions."
        ) from exc
    if not _is_fernet_key(key):
        raise ConfigurationError(
            f"{path} does not hold {_KEY_HELP}; restore the key secrets were encrypted with, "
            "or set ANDON_SECRET_KEY."
        )
    return key


def check_secret_name(spec: AndonSpec, name: str) -> str:
    """``name`` when andon.yaml's ``secrets`` declares it; UsageError otherwise."""
    if name in spec.secrets:
        return name
    if not spec.secrets:
        raise UsageError(
            f"andon.yaml of {spec.service.name} declares no secrets; add {name} to its "
            "'secrets' list first."
        )
    declared = ", ".join(spec.secrets)
    raise UsageError(
        f"{name} is not a secret of {spec.service.name}{did_you_mean(name, spec.secrets)}; "
        f"andon.yaml declares {declared}; add {name} to its 'secrets' list first."
    )


def secret_values(
    secrets: Mapping[str, str], *, database: DatabaseInfo | None = None
) -> builtins.list[str]:
    """The values a log must not show: every secret's, and the password in the database's
    URL; without repeats, longest first."""
    values: set[str] = {value for value in secrets.values() if value}
    if database is not None:
        values.update(_url_passwords(database.url))
    return sorted(values, key=lambda value: (-len(value), value))


class SecretVault:
    """The secrets of every environment: names checked, values encrypted before they are
    stored and decrypted when read."""

    def __init__(self, repository: SecretRepository, box: SecretBox) -> None:
        self._repository = repository
        self._box = box

    def set(self, spec: AndonSpec, project: str, environment: str, name: str, value: str) -> None:
        """Keep ``value`` as secret ``name`` of ``project``/``environment``; UsageError when
        andon.yaml does not declare the name."""
        check_secret_name(spec, name)
        self._repository.set(project, environment, name, self._box.encrypt(value))

    def names(self, project: str, environment: str) -> builtins.list[str]:
        """The names of the secrets set, sorted; never their values."""
        return self._repository.names(project, environment)

    def reveal(self, project: str, environment: str) -> dict[str, str]:
        """Every secret of ``project``/``environment`` in clear, by name, for a deploy."""
        owner = f"{project}/{environment}"
        stored = self._repository.all(project, environment)
        return {name: self._box.decrypt(text, owner=owner) for name, text in stored.items()}

    def remove(self, project: str, environment: str, name: str) -> None:
        """Forget secret ``name``; NotFoundError if it is not set."""
        self._repository.remove(project, environment, name)

    def missing(self, spec: AndonSpec, project: str, environment: str) -> builtins.list[str]:
        """The names andon.yaml declares that are not set for the environment, in order."""
        present = set(self.names(project, environment))
        return [name for name in spec.secrets if name not in present]


def _is_fernet_key(key: bytes) -> bool:
    try:
        Fernet(key)
    except (ValueError, TypeError):
        return False
    return True


def _generate_key_file(path: Path) -> None:
    """Write a new key to ``path`` unless another process wins the race to do it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".secret.key.", dir=path.parent)
    try:
        # mkstemp makes the file 0600 already; a hard link then puts it in place whole,
        # so a concurrent reader never sees a half-written key, and fails if a key exists.
        with os.fdopen(fd, "wb") as file:
            file.write(Fernet.generate_key() + b"\n")
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)


def _url_passwords(url: str) -> set[str]:
    """The password in ``url`` as written and percent-decoded: a service may log either."""
    password = urlsplit(url).password
    return {password, unquote(password)} if password else set()
