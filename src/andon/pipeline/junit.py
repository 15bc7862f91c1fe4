"""Test results from the JUnit XML reports a job writes (pytest's ``--junitxml``, Maven's
surefire, and most other runners): counts, the failing tests by name, and how long each
took. The pipeline runner reads them after each attempt; shards' reports are merged."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from andon.pipeline._globbing import find_files

MAX_REPORT_BYTES = 50 * 1024 * 1024
"""Larger report files are not read."""

_DECLARATIONS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass
class TestReport:
    """What a job's test reports say."""

    # Not a test class, although pytest would collect one by this name.
    __test__ = False

    total: int = 0
    passed: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    failing: list[str] = field(default_factory=list)
    """Tests that failed or erred, as ``classname::name`` (or ``file::name``)."""
    durations: dict[str, float] = field(default_factory=dict)
    """Seconds each test took, by the same names."""
    warnings: list[str] = field(default_factory=list)
    """Sentences about reports that were missing or could not be read."""

    def summary(self) -> str:
        """One line: ``12 tests: 10 passed, 1 failed, 0 errors, 1 skipped``."""
        return (
            f"{self.total} tests: {self.passed} passed, {self.failures} failed, "
            f"{self.errors} errors, {self.skipped} skipped"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for the store and the API."""
        return {
            "total": self.total,
            "passed": self.passed,
            "failures": self.failures,
            "errors": self.errors,
            "skipped": self.skipped,
            "failing": list(self.failing),
            "durations": dict(self.durations),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TestReport:
        """The report that :meth:`to_dict` wrote."""
        return cls(
            total=int(data.get("total", 0)),
            passed=int(data.get("passed", 0)),
            failures=int(data.get("failures", 0)),
            errors=int(data.get("errors", 0)),
            skipped=int(data.get("skipped", 0)),
            failing=list(data.get("failing", [])),
            durations={str(k): float(v) for k, v in dict(data.get("durations", {})).items()},
            warnings=list(data.get("warnings", [])),
        )

    @classmethod
    def merge(cls, reports: Iterable[TestReport]) -> TestReport:
        """One report of several (a job's shards): counts added, lists joined."""
        merged = cls()
        for report in reports:
            merged.total += report.total
            merged.passed += report.passed
            merged.failures += report.failures
            merged.errors += report.errors
            merged.skipped += report.skipped
            merged.failing.extend(n for n in report.failing if n not in merged.failing)
            for name, seconds in report.durations.items():
                merged.durations[name] = merged.durations.get(name, 0.0) + seconds
            merged.warnings.extend(w for w in report.warnings if w not in merged.warnings)
        return merged


def parse_reports(workspace: Path, globs: Sequence[str]) -> TestReport:
    """Read every JUnit XML file under ``workspace`` that ``globs`` match into one report.

    A file that cannot be read is left out with a warning, and so is the absence of any
    report: then the job is judged by its exit code alone.
    """
    report = TestReport()
    if not globs:
        return report
    paths = find_files(workspace, globs)
    if not paths:
        report.warnings.append(
            f"no test report matched {', '.join(globs)}; the job is judged by its exit code"
        )
    for path in paths:
        root, problem = _read(workspace / path)
        if root is None:
            report.warnings.append(f"{path} {problem}; it was left out")
            continue
        _count(root, report)
    report.passed = report.total - report.failures - report.errors - report.skipped
    return report


def _read(path: Path) -> tuple[ElementTree.Element | None, str]:
    """The root element of the report at ``path``, or None and why it could not be read."""
    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            return None, f"is larger than {MAX_REPORT_BYTES // 1024 // 1024} MiB"
        data = path.read_bytes()
    except OSError as exc:
        return None, f"could not be read ({exc.strerror or exc})"
    # Declarations allow entities, which can expand without bound: reports need none.
    # Dropping NULs finds them in UTF-16 and UTF-32 text too.
    if _DECLARATIONS.search(data.replace(b"\x00", b"")):
        return None, "declares a DOCTYPE or entities, which Andon refuses to read"
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        line, column = exc.position
        return None, f"is not valid XML (line {line}, column {column + 1})"
    if root.tag not in ("testsuites", "testsuite"):
        return None, f"is not a JUnit report (its root element is <{root.tag}>)"
    return root, ""


def _count(root: ElementTree.Element, report: TestReport) -> None:
    for case in root.iter("testcase"):
        name = _test_name(case)
        report.total += 1
        if case.find("failure") is not None:
            report.failures += 1
            _add_failing(report, name)
        elif case.find("error") is not None:
            report.errors += 1
            _add_failing(report, name)
        elif case.find("skipped") is not None:
            report.skipped += 1
        report.durations[name] = report.durations.get(name, 0.0) + _seconds(case.get("time"))


def _test_name(case: ElementTree.Element) -> str:
    name = case.get("name", "")
    owner = case.get("classname") or case.get("file") or ""
    return f"{owner}::{name}" if owner else name


def _add_failing(report: TestReport, name: str) -> None:
    if name not in report.failing:
        report.failing.append(name)


def _seconds(text: str | None) -> float:
    """A ``time`` attribute in seconds; Maven writes thousands with commas (``1,234.5``)."""
    try:
        return float((text or "0").replace(",", ""))
    except ValueError:
        return 0.0
