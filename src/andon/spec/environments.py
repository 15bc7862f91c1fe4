"""Where the service runs (``environments``): dev, test, staging, prod and any other."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field

from andon.spec._base import SpecModel
from andon.spec._units import Duration
from andon.spec.release import Strategy


class RuntimeKind(StrEnum):
    """Where an environment's instances run."""

    LOCAL = "local"
    SSH = "ssh"
    KUBERNETES = "kubernetes"


class Approval(StrEnum):
    """Whether a person must approve a deployment before it starts."""

    NONE = "none"
    REQUIRED = "required"


class EnvironmentSpec(SpecModel):
    """One environment of the service, created from this file on demand."""

    runtime: RuntimeKind = RuntimeKind.LOCAL
    """``local`` (processes supervised by the agent on this host), ``ssh`` or ``kubernetes``."""
    hosts: list[str] = []
    """For the ``ssh`` runtime: the hosts to deploy to."""
    instances: int | dict[str, int] | None = None
    """Instances per process: one number for every process, or a map from process name
    to number; unset means each process's own ``instances``."""
    values: dict[str, Any] = {}
    """Config values for this environment, over ``config.values``."""
    strategy: Strategy | None = None
    """The rollout strategy here, over ``release.strategy`` (e.g. ``recreate`` in test)."""
    approval: Approval = Approval.NONE
    """``required``: a person other than the one who deploys must approve."""
    auto_deploy: bool = False
    """Deploy every green commit on trunk here without being asked."""
    protected: bool = False
    """A protected environment refuses deployments while the line is stopped, and
    only deployers of the project may change it."""
    ttl: Duration | None = None
    """Remove the environment this long after it was created (ephemeral environments)."""
    from_: str | None = Field(default=None, alias="from")
    """Copy the declaration of this environment, then apply the keys given here."""


DEFAULT_TTL = timedelta(hours=2)
"""The TTL of an ephemeral environment copied with ``--from`` and no ``--ttl``."""
