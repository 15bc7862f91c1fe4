"""How the supervisor reacts, decided purely: the policy's numbers, what a finished health
check means (:func:`assess_check`) and what to do when a process exits
(:func:`decide_after_exit`). The supervisor calls both and acts on their answers.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from andon.agent.instances import InstancePhase
from andon.agent.logs import DEFAULT_KEEP, DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class SupervisorPolicy:
    """The supervisor's intervals and limits; tests shorten them."""

    poll_interval: float = 0.2
    """Seconds between looks at whether a process has exited."""
    readiness_interval: float = 0.25
    """Seconds between readiness checks while an instance starts."""
    liveness_interval: float = 5.0
    """Seconds between liveness checks of a ready instance."""
    health_timeout: float = 2.0
    failure_threshold: int = 3
    """Liveness checks failed in a row that make an instance unhealthy (and restarted)."""
    ready_after: float = 1.0
    """Without a health path, an instance is ready once it has run this long."""
    start_timeout: float = 60.0
    """An instance not ready this long after its start is unhealthy (and restarted)."""
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    crash_loop_limit: int = 5
    """This many crashes within ``crash_window`` make a crash loop: no more restarts."""
    crash_window: float = 60.0
    stable_after: float = 60.0
    """A process that ran this long before it crashed starts the backoff afresh."""
    drain_seconds: float = 2.0
    """Seconds a ready instance keeps its requests, out of routing, before SIGTERM."""
    rotate_interval: float = 1.0
    log_max_bytes: int = DEFAULT_MAX_BYTES
    log_keep: int = DEFAULT_KEEP
    log_tail_lines: int = 20
    """Lines of log kept with a crash loop's report."""


@dataclass(frozen=True)
class CrashHistory:
    """The crashes that count: when they happened, and how many came in a row."""

    times: tuple[float, ...] = ()
    consecutive: int = 0


@dataclass(frozen=True)
class ExitDecision:
    """What follows an exit: a restart after ``delay`` seconds (phase ``crashed``), or
    none (phase ``crash_loop``, ``delay`` None)."""

    phase: InstancePhase
    delay: float | None
    message: str
    history: CrashHistory


@dataclass(frozen=True)
class Probe:
    """The outcome of one HTTP health check."""

    ok: bool
    detail: str
    """``GET /healthz answered 200`` or ``GET /healthz: connection refused``."""


@dataclass(frozen=True)
class CheckVerdict:
    """The instance's phase after a check, its failures in a row, and whether to
    restart it."""

    phase: InstancePhase
    failures: int
    message: str
    restart: bool = False


def describe_exit(code: int | None) -> str:
    """How a process ended, as a clause: ``exited with code 3``, ``was killed by signal 9
    (SIGKILL)``."""
    if code is None:
        return "exited while the agent was down (its exit code is unknown)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown"
        return f"was killed by signal {-code} ({name})"
    return f"exited with code {code}"


def decide_after_exit(
    history: CrashHistory, cause: str, ran_for: float, now: float, policy: SupervisorPolicy
) -> ExitDecision:
    """Restart with exponential backoff, or declare a crash loop. No side effects.

    ``cause`` says how the process ended (:func:`describe_exit`), ``ran_for`` how long it
    ran, ``now`` is the supervisor's clock. The delay doubles from ``backoff_base`` with
    each crash in a row, up to ``backoff_cap``; a process that had run ``stable_after``
    seconds starts afresh. The ``crash_loop_limit``-th crash within ``crash_window``
    seconds ends the restarts.
    """
    consecutive = 1 if ran_for >= policy.stable_after else history.consecutive + 1
    recent = (*(t for t in history.times if now - t < policy.crash_window), now)
    updated = CrashHistory(times=recent, consecutive=consecutive)
    window = f"{policy.crash_window:g}s"
    if len(recent) >= policy.crash_loop_limit:
        return ExitDecision(
            phase=InstancePhase.CRASH_LOOP,
            delay=None,
            message=(
                f"crash loop: it crashed {len(recent)} times within {window} (last, it "
                f"{cause}) and is not restarted; see its log, fix the release and start "
                "it again."
            ),
            history=updated,
        )
    delay = min(policy.backoff_base * 2 ** (consecutive - 1), policy.backoff_cap)
    return ExitDecision(
        phase=InstancePhase.CRASHED,
        delay=delay,
        message=(
            f"crashed: it {cause}; restarting in {delay:g}s (crash {len(recent)} within "
            f"{window}; at {policy.crash_loop_limit} it is not restarted)."
        ),
        history=updated,
    )


def assess_check(
    phase: InstancePhase,
    failures: int,
    probe: Probe | None,
    ran_for: float,
    policy: SupervisorPolicy,
) -> CheckVerdict:
    """The phase after one check of a starting or ready instance. No side effects.

    ``probe`` is None for an instance without a health path, whose only check is that
    it has run ``ready_after`` seconds. A starting instance becomes ready on its first good
    probe and unhealthy when ``start_timeout`` passes without one; a ready one becomes
    unhealthy after ``failure_threshold`` failed probes in a row.
    """
    if phase is InstancePhase.STARTING:
        if probe is None:
            if ran_for >= policy.ready_after:
                return CheckVerdict(
                    InstancePhase.READY, 0, f"ready: running for {ran_for:.1f}s (no health path)."
                )
            return CheckVerdict(phase, 0, "starting.")
        if probe.ok:
            return CheckVerdict(InstancePhase.READY, 0, f"ready: {probe.detail}.")
        if ran_for >= policy.start_timeout:
            return CheckVerdict(
                InstancePhase.UNHEALTHY,
                0,
                f"not ready {policy.start_timeout:g}s after its start ({probe.detail}); "
                "restarting it.",
                restart=True,
            )
        return CheckVerdict(phase, 0, f"starting: {probe.detail}.")
    if probe is None:
        return CheckVerdict(InstancePhase.READY, 0, "ready: running (no health path).")
    if probe.ok:
        return CheckVerdict(InstancePhase.READY, 0, f"ready: {probe.detail}.")
    failures += 1
    if failures >= policy.failure_threshold:
        return CheckVerdict(
            InstancePhase.UNHEALTHY,
            failures,
            f"unhealthy: {failures} liveness checks failed in a row ({probe.detail}); "
            "restarting it.",
            restart=True,
        )
    return CheckVerdict(
        InstancePhase.READY,
        failures,
        f"ready, but a liveness check failed ({failures} of {policy.failure_threshold} "
        f"allowed in a row): {probe.detail}.",
    )
