"""Where Andon keeps its local state and how it finds its database, read from the
environment once by the CLI and the server.

``ANDON_HOME`` (default ``~/.andon``) holds everything local: the SQLite database, the
server's and the agent's pid, log and URL, mirrors of registered repositories, the key
secrets are encrypted with (unless ``ANDON_SECRET_KEY`` gives one) and every
environment's files.
``ANDON_DATABASE_URL`` switches the store to PostgreSQL; ``ANDON_POSTGRES_URL`` names the
server on which environments that ask for PostgreSQL get their databases.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from andon.errors import ConfigurationError

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "INHERITED_VARIABLES",
    "Settings",
    "inherited_environment",
]

INHERITED_VARIABLES = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
)
"""What the processes Andon starts for a service (instances, environment commands, command
metrics) get from Andon's own environment: enough to find programs and a home, nothing of
Andon's settings or secrets (``ANDON_SECRET_KEY``, ``ANDON_DATABASE_URL``, …)."""


def inherited_environment() -> dict[str, str]:
    """The :data:`INHERITED_VARIABLES` this process has, to start a service's process with."""
    return {name: os.environ[name] for name in INHERITED_VARIABLES if name in os.environ}


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700


@dataclass(frozen=True)
class Settings:
    """Local settings of one Andon installation."""

    home: Path
    database_url: str
    poll_interval: float = 2.0
    """Seconds between looks at every project's trunk (``ANDON_POLL_INTERVAL``)."""
    concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)
    """Jobs of one pipeline run at once (``ANDON_CONCURRENCY``; default: CPU count)."""
    webhook_secret: str | None = None
    """The shared secret of incoming GitHub/GitLab push webhooks (``ANDON_WEBHOOK_SECRET``)."""
    # None of the URLs and keys below is shown by repr(): a key, a password or a webhook
    # URL (a Slack webhook's path is its credential) must not reach a log line.
    notify_url: str | None = field(default=None, repr=False)
    """A Slack-compatible webhook told of the line, rollouts, flag kills, guards and drift
    (``ANDON_NOTIFY_URL``)."""
    webhook_url: str | None = field(default=None, repr=False)
    """A webhook sent the same events as plain JSON (``ANDON_WEBHOOK_URL``)."""
    webhook_signing_key: str | None = field(default=None, repr=False)
    """The key outgoing webhooks are signed with, in ``X-Andon-Signature``
    (``ANDON_WEBHOOK_SIGNING_KEY``); unset, they are not signed."""
    secret_key: str | None = field(default=None, repr=False)
    """The Fernet key that encrypts secrets at rest (``ANDON_SECRET_KEY``); unset, a key is
    generated once into ``ANDON_HOME/secret.key``."""
    postgres_url: str | None = field(default=None, repr=False)
    """The PostgreSQL server on which environments get their databases
    (``ANDON_POSTGRES_URL``, e.g. ``postgresql://USER@HOST:5432/postgres``); no default."""
    drift_interval: float = 60.0
    """Seconds between the server's drift checks of each ready environment
    (``ANDON_DRIFT_INTERVAL``)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``ANDON_*`` variables (or their defaults)."""
        env = os.environ if env is None else env
        home = Path(env.get("ANDON_HOME") or Path.home() / ".andon").expanduser().absolute()
        url = env.get("ANDON_DATABASE_URL") or f"sqlite:///{home / 'andon.db'}"
        return cls(
            home=home,
            database_url=url,
            poll_interval=_number(env, "ANDON_POLL_INTERVAL", 2.0, minimum=0.05),
            concurrency=int(_number(env, "ANDON_CONCURRENCY", os.cpu_count() or 1, minimum=1)),
            notify_url=env.get("ANDON_NOTIFY_URL") or None,
            webhook_url=env.get("ANDON_WEBHOOK_URL") or None,
            webhook_signing_key=env.get("ANDON_WEBHOOK_SIGNING_KEY") or None,
            webhook_secret=env.get("ANDON_WEBHOOK_SECRET") or None,
            secret_key=env.get("ANDON_SECRET_KEY") or None,
            postgres_url=env.get("ANDON_POSTGRES_URL") or None,
            drift_interval=_number(env, "ANDON_DRIFT_INTERVAL", 60.0, minimum=1.0),
        )

    @property
    def server_file(self) -> Path:
        """The JSON file in which ``andon start`` records the server's pid, URL and log."""
        return self.home / "server.json"

    @property
    def token_file(self) -> Path:
        """The admin API token the server's first start made (mode 0600); the CLI sends it
        unless ``ANDON_TOKEN`` gives another."""
        return self.home / "token"

    @property
    def server_log(self) -> Path:
        """The log of the server started in the background."""
        return self.home / "server.log"

    @property
    def agent_file(self) -> Path:
        """The JSON file in which ``andon start`` records the agent's pid, URL, state
        directory and log; the server finds the agent through it."""
        return self.home / "agent.json"

    @property
    def agent_log(self) -> Path:
        """The log of the agent started in the background."""
        return self.home / "agent.log"

    @property
    def agent_dir(self) -> Path:
        """The state directory of the agent ``andon start`` and ``andon agent`` run."""
        return self.home / "agent"

    @property
    def logs_dir(self) -> Path:
        """Where pipeline and job logs are kept."""
        return self.home / "logs"

    @property
    def repos_dir(self) -> Path:
        """Where mirrors of registered git repositories live."""
        return self.home / "repos"

    @property
    def secret_key_file(self) -> Path:
        """The key secrets are encrypted with when ``ANDON_SECRET_KEY`` is unset (mode 0600)."""
        return self.home / "secret.key"

    @property
    def environments_dir(self) -> Path:
        """Where each environment's releases and data live: ``<project>/<environment>/``."""
        return self.home / "environments"


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    text = env.get(name)
    if not text:
        return float(default)
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(
            f"{name}={text!r} is not a number; unset it or give one."
        ) from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum:g}, got {text}.")
    return value
