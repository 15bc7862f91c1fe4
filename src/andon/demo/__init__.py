"""``andon demo``: the whole value stream played on this machine in a few minutes.

:func:`play` starts a private Andon (a temporary ANDON_HOME, free ports), makes a git
repository of the example shop with its andon.yaml made quick (:func:`quick_spec`), and
plays the story: a commit down the line, a blue-green release under synthetic shoppers,
a defect rolled back by the immune system, the fix through a canary, a dark launch and
an A/B experiment, a dependency guard, the andon cord, and a summary with DORA's metrics.
Whatever happens, everything it started is stopped again.
"""

from __future__ import annotations

from andon.demo.failures import DemoError, StepFailedError
from andon.demo.playing import STEPS, TOTAL, DemoOptions, DemoResult, play
from andon.demo.progress import Progress, StepRecord
from andon.demo.repository import find_shop, quick_spec
from andon.demo.summary import summary_document, summary_table

__all__ = [
    "STEPS",
    "TOTAL",
    "DemoError",
    "DemoOptions",
    "DemoResult",
    "Progress",
    "StepFailedError",
    "StepRecord",
    "find_shop",
    "play",
    "quick_spec",
    "summary_document",
    "summary_table",
]
