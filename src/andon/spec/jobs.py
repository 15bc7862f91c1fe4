"""Pipeline jobs (``build``, ``test``, ``jobs``) and what goes into the artifact (``package``)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from andon.spec._base import SpecModel
from andon.spec._units import Duration


class JobSpec(SpecModel):
    """One job of the pipeline; jobs run in parallel unless ``needs`` orders them."""

    command: str = Field(min_length=1)
    """The shell command to run in a clean workspace of the commit."""
    needs: list[str] = []
    """Jobs (from ``build``, ``test`` or ``jobs``) that must succeed before this one starts."""
    timeout: Duration = timedelta(minutes=10)
    """How long the job may run before it is stopped and marked failed."""
    parallel: int = Field(default=1, ge=1, le=64)
    """Into how many shards to split the job; each learns ``ANDON_SHARD_INDEX`` and
    ``ANDON_SHARD_TOTAL``."""
    retries: int = Field(default=0, ge=0, le=5)
    """How often to run the job again after an infrastructure failure or a failed attempt."""
    inputs: list[str] = []
    """Globs of files whose content decides whether an earlier result can be reused."""
    cache: list[str] = []
    """Directories kept between runs (e.g. ``.cache/pip``)."""
    cache_key: list[str] = []
    """Files whose content keys the cache directories (e.g. ``requirements.txt``)."""
    reports: list[str] = []
    """Globs of JUnit XML reports the job writes."""
    env: dict[str, str] = {}
    """Extra environment variables for the job."""


class PackageSpec(SpecModel):
    """What goes into the immutable artifact built once per commit."""

    paths: list[str] = Field(default=["."], min_length=1)
    """Files and directories (relative to the service root) to put in the artifact."""
    exclude: list[str] = []
    """Globs to leave out, e.g. ``**/__pycache__`` or ``tests``."""
    vendor: str | None = None
    """A command that installs the dependencies into the artifact (e.g.
    ``pip install --target vendor -r requirements.txt``), so that deploys need no network."""
    lock: str | None = None
    """The dependency lock file recorded in the artifact's manifest."""
