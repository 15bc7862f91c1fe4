"""Where Andon keeps its local state and how it finds its database, read from the
environment once by the CLI and the server.

``ANDON_HOME`` (default ``~/.andon``) holds everything local: the SQLite database, the
server's pid, log and URL, mirrors of registered repositories. ``ANDON_DATABASE_URL``
switches the store to PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Settings"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700


@dataclass(frozen=True)
class Settings:
    """Local settings of one Andon installation."""

    home: Path
    database_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``ANDON_HOME`` and ``ANDON_DATABASE_URL`` (or their defaults)."""
        env = os.environ if env is None else env
        home = Path(env.get("ANDON_HOME") or Path.home() / ".andon").expanduser().absolute()
        url = env.get("ANDON_DATABASE_URL") or f"sqlite:///{home / 'andon.db'}"
        return cls(home=home, database_url=url)

    @property
    def server_file(self) -> Path:
        """The JSON file in which ``andon start`` records the server's pid, URL and log."""
        return self.home / "server.json"

    @property
    def server_log(self) -> Path:
        """The log of the server started in the background."""
        return self.home / "server.log"

    @property
    def repos_dir(self) -> Path:
        """Where mirrors of registered git repositories live."""
        return self.home / "repos"
