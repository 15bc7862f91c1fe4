"""The store: Andon's database, its schema and migrations, and the repositories over it.

The server and the CLI's local commands open it with :func:`open_store` and use its
repositories (``store.projects``); nothing outside this package touches SQLAlchemy.
"""

from andon.store._projects import ProjectRecord, ProjectRepository
from andon.store._store import Store, open_store
from andon.store._tables import metadata
from andon.store._urls import redact_url

__all__ = [
    "ProjectRecord",
    "ProjectRepository",
    "Store",
    "metadata",
    "open_store",
    "redact_url",
]
