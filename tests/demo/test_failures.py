"""A failed step is one line: which step, why, and where the logs were kept."""

from __future__ import annotations

from pathlib import Path

from andon.demo import DemoError, StepFailedError
from andon.errors import AndonError


def test_a_failed_step_names_itself_its_cause_and_the_logs() -> None:
    title = "A defect the tests do not catch"
    failure = StepFailedError(3, 8, title, "it ended succeeded.", Path("/tmp/d"))
    assert isinstance(failure, DemoError) and isinstance(failure, AndonError)
    assert failure.message == (
        "the demo stopped at step 3/8 (A defect the tests do not catch): it ended succeeded; "
        "the logs are kept in /tmp/d (server.log, agent.log, logs/ for the pipelines, "
        "environments/ for the shop's instances)."
    )
    assert "\n" not in failure.message


def test_a_failure_while_setting_up_says_so() -> None:
    failure = StepFailedError(0, 8, "Setting up", "git is not on PATH", Path("/tmp/d"))
    assert failure.message.startswith("the demo stopped while setting up: git is not on PATH;")
