"""Where instances run: one :class:`Runtime` Protocol, one module per runtime, and a fake.

:class:`LocalRuntime` drives the Andon agent on a host through its admin API;
:class:`FakeRuntime` holds everything in memory for engine tests. :func:`runtime_for`
makes the runtime an environment's ``runtime:`` names. The ``ssh`` and ``kubernetes``
runtimes are not written yet.
"""

from andon.errors import ConfigurationError
from andon.runtimes.fake import FakeEnvironment, FakeRuntime
from andon.runtimes.local import LocalRuntime, agent_address, agent_state_dir
from andon.runtimes.protocol import InstancePhase, InstanceSpec, InstanceStatus, Runtime
from andon.settings import Settings
from andon.spec import RuntimeKind

__all__ = [
    "FakeEnvironment",
    "FakeRuntime",
    "InstancePhase",
    "InstanceSpec",
    "InstanceStatus",
    "LocalRuntime",
    "Runtime",
    "agent_address",
    "agent_state_dir",
    "runtime_for",
]

_KINDS = [RuntimeKind.LOCAL.value, "fake"]


def runtime_for(kind: RuntimeKind | str, settings: Settings) -> Runtime:
    """The runtime of ``kind`` (``local``, or ``fake`` for tests) under ``settings``."""
    if kind == RuntimeKind.LOCAL:
        return LocalRuntime.from_settings(settings)
    if kind == "fake":
        return FakeRuntime()
    if kind in {RuntimeKind.SSH, RuntimeKind.KUBERNETES}:
        raise ConfigurationError(
            f"the {kind} runtime is not available yet; use runtime: local for this environment."
        )
    raise ConfigurationError(f"unknown runtime {kind!r}; expected one of {', '.join(_KINDS)}.")
