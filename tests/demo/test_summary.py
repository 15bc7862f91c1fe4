"""The summary: a row per step with when it began, how long it took and what it showed,
and the same as JSON."""

from __future__ import annotations

import io

from rich.console import Console

from andon.demo import StepRecord, summary_document, summary_table

STEPS = [
    StepRecord(0, "Setting up", 0.0, 17.6, ["pipeline #1 green in 10.8s"]),
    StepRecord(3, "A defect the tests do not catch", 41.1, 11.6, ["rolled back in 7.6s"]),
    StepRecord(4, "The fix, through a canary", 52.7, None, [], failed=True),
]


def test_the_table_has_a_row_per_step_with_its_times_and_facts() -> None:
    out = io.StringIO()
    Console(file=out, width=100).print(summary_table(STEPS, 8))
    text = out.getvalue()
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert lines[1] == "setup Setting up 0s 17.6s"
    assert lines[2] == "pipeline #1 green in 10.8s"
    assert lines[3] == "3/8 A defect the tests do not catch 41s 11.6s"
    assert lines[5] == "4/8 The fix, through a canary 53s failed"


def test_the_document_holds_each_step_and_the_dora_report() -> None:
    document = summary_document(STEPS, {"environment": "prod"}, 99.04)
    assert document["seconds"] == 99.0
    assert document["dora"] == {"environment": "prod"}
    assert document["steps"][1] == {
        "number": 3,
        "title": "A defect the tests do not catch",
        "started": 41.1,
        "seconds": 11.6,
        "failed": False,
        "facts": ["rolled back in 7.6s"],
    }
