"""The service itself and the processes it runs (``service``, ``processes``)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from andon.spec._base import ENV_VAR_PATTERN, NAME_PATTERN, SpecModel
from andon.spec._units import Duration


class ServiceSpec(SpecModel):
    """Who the service is."""

    name: str = Field(pattern=NAME_PATTERN)
    """The service's name, a DNS label (lower-case letters, digits, dashes)."""
    description: str = ""
    """One sentence on what the service does, shown on the dashboard."""
    owner: str = ""
    """The team or person who answers for it, e.g. ``team-checkout``."""


class ProcessSpec(SpecModel):
    """One kind of process the service runs, such as ``web`` or ``worker``."""

    command: str = Field(min_length=1)
    """The command that starts one instance, run from the unpacked artifact's root."""
    port_env: str | None = Field(default="PORT", pattern=ENV_VAR_PATTERN)
    """The variable through which the instance learns its port; null for a process
    that serves no HTTP (a worker)."""
    health: str | None = Field(default=None, pattern=r"^/")
    """The HTTP path that answers 200 when an instance is ready for traffic."""
    instances: int = Field(default=1, ge=0, le=1000)
    """How many instances to run unless an environment says otherwise."""
    stop_timeout: Duration = timedelta(seconds=10)
    """How long an instance may take to finish in-flight work after SIGTERM
    before it is killed."""
