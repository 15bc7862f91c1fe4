"""The fixed vocabulary of a rollout's life: its phases, why it is paused, and the kinds
of decisions it logs. ``decide_rollout`` moves a rollout between these phases:

::

    PENDING ─(approved)─▶ STARTING ─▶ MIGRATING ─▶ SMOKE_TESTING ─▶ PROGRESSING
                              └───────────┴──────────────┴─▶ FAILED    │  ⇅ PAUSED, BAKING
                                                                       ▼
                                          SUCCEEDED ◀────────────── FINALIZING
    a failure under traffic ─▶ (ROLLING_BACK ─▶) ROLLED_BACK, or PAUSED (frozen) if unsafe
    abort ─▶ (ROLLING_BACK ─▶) ABORTED;  retry: ROLLED_BACK | ABORTED | FAILED ─▶ STARTING
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """Where a rollout is."""

    PENDING = "pending"
    """Created; waits for approval when the environment needs one."""
    STARTING = "starting"
    """The new version's instances are starting (recreate stopped the old ones first)."""
    MIGRATING = "migrating"
    """Migrations run once; a failure ends the rollout before any traffic moves."""
    SMOKE_TESTING = "smoke_testing"
    """Smoke tests run against the new version only, through a header route."""
    PROGRESSING = "progressing"
    """Traffic moves by the strategy: canary steps, rolling batches, the blue-green switch."""
    PAUSED = "paused"
    """Waiting: a pause step, a person's pause, or a verdict that needs a person."""
    BAKING = "baking"
    """A canary holds its weight while the analysis keeps running (``bake``)."""
    FINALIZING = "finalizing"
    """All traffic is on the new version; the old one stays warm until the delay ends."""
    SUCCEEDED = "succeeded"
    """The new version serves all traffic and the old one is stopped."""
    ROLLING_BACK = "rolling_back"
    """The old version's stopped instances are starting again before traffic returns."""
    ROLLED_BACK = "rolled_back"
    """The system returned all traffic to the old version and stopped the new one."""
    ABORTED = "aborted"
    """A person rolled the rollout back (or cancelled it before it started)."""
    FAILED = "failed"
    """A deploy step failed (instances, migrations, smoke tests): no traffic moved."""


class PauseReason(StrEnum):
    """Why a rollout is paused, and so what ends the pause."""

    STEP = "step"
    """A canary ``pause`` step: it ends at its time, or with ``promote`` when it has none."""
    OPERATOR = "operator"
    """A person paused it; ``resume`` goes on."""
    INCONCLUSIVE = "inconclusive"
    """The analysis could not tell; ``resume`` analyses again, ``promote`` goes on anyway."""
    FROZEN = "frozen"
    """The analysis failed but rolling back is unsafe (migrations not backward
    compatible): a person decides with ``promote`` or ``abort``."""
    AWAITING_PROMOTION = "awaiting_promotion"
    """Blue-green without ``auto_promote``: green is ready; ``promote`` switches."""


class DecisionKind(StrEnum):
    """What a logged decision was."""

    CREATED = "created"
    WARNING = "warning"
    APPROVED = "approved"
    PROGRESSED = "progressed"
    ANALYSIS = "analysis"
    PAUSED = "paused"
    RESUMED = "resumed"
    PROMOTED = "promoted"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    FROZEN = "frozen"
    FAILED = "failed"
    ABORTED = "aborted"
    RETRIED = "retried"
    FINISHED = "finished"
    REFUSED = "refused"


TERMINAL = frozenset({Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED})
"""Phases a rollout never leaves by itself (``retry`` restarts the unsuccessful ones)."""

DEPLOYING = frozenset({Phase.STARTING, Phase.MIGRATING, Phase.SMOKE_TESTING})
"""The deploy steps every strategy runs before customer traffic moves."""

TRAFFIC = frozenset({Phase.PROGRESSING, Phase.PAUSED, Phase.BAKING, Phase.FINALIZING})
"""Phases in which customers may be served by the new version, so that a failed
analysis or a crashing new instance rolls back (or freezes)."""

RETRYABLE = frozenset({Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED})
"""Phases ``retry`` starts again from."""


def words(phase: Phase) -> str:
    """``phase`` for sentences: ``rolled back``, ``smoke testing``."""
    return phase.value.replace("_", " ")
