"""Reading JUnit XML reports: one written by a real pytest run, Maven's flavour, merged
shards, and reports that are missing, broken or hostile."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from andon.pipeline import TestReport, parse_reports

TESTS = """
import pytest

def test_passes():
    pass

def test_fails():
    assert 1 == 2

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")

def test_errors(broken):
    pass

class TestCart:
    def test_total(self):
        assert sum([1, 2]) == 3
"""

MAVEN = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="com.shop.CartTest" tests="3" failures="1" errors="0" skipped="1" time="1,234.5">
  <properties><property name="java.version" value="21"/></properties>
  <testcase name="addsItems" classname="com.shop.CartTest" time="1,200.25"/>
  <testcase name="appliesDiscount" classname="com.shop.CartTest" time="0.5">
    <failure message="expected 90 but was 100" type="org.opentest4j.AssertionFailedError">
      stack trace
    </failure>
  </testcase>
  <testcase name="pending" classname="com.shop.CartTest" time="0"><skipped/></testcase>
  <system-out><![CDATA[log output]]></system-out>
</testsuite>
"""


@pytest.fixture(scope="module")
def pytest_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding the report a real pytest run wrote."""
    workspace = tmp_path_factory.mktemp("workspace")
    (workspace / "test_shop.py").write_text(TESTS)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--junitxml=reports/junit-0.xml",
            "test_shop.py",
        ],
        cwd=workspace,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert (workspace / "reports/junit-0.xml").exists()
    return workspace


def write(workspace: Path, name: str, content: str | bytes) -> None:
    path = workspace / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)


def test_a_pytest_report_is_counted(pytest_report: Path) -> None:
    report = parse_reports(pytest_report, ["reports/junit-*.xml"])

    assert (report.total, report.passed, report.failures, report.errors, report.skipped) == (
        5,
        2,
        1,
        1,
        1,
    )
    assert report.failing == ["test_shop::test_fails", "test_shop::test_errors"]
    assert set(report.durations) == {
        "test_shop::test_passes",
        "test_shop::test_fails",
        "test_shop::test_skipped",
        "test_shop::test_errors",
        "test_shop.TestCart::test_total",
    }
    assert all(seconds >= 0 for seconds in report.durations.values())
    assert report.warnings == []
    assert report.summary() == "5 tests: 2 passed, 1 failed, 1 errors, 1 skipped"


def test_a_maven_report_is_counted(tmp_path: Path) -> None:
    write(tmp_path, "target/surefire-reports/TEST-com.shop.CartTest.xml", MAVEN)

    report = parse_reports(tmp_path, ["target/surefire-reports/*.xml"])

    assert (report.total, report.passed, report.failures, report.skipped) == (3, 1, 1, 1)
    assert report.failing == ["com.shop.CartTest::appliesDiscount"]
    assert report.durations["com.shop.CartTest::addsItems"] == 1200.25


def test_a_testcase_with_only_a_file_is_named_by_it(tmp_path: Path) -> None:
    write(
        tmp_path,
        "r.xml",
        '<testsuites><testsuite><testcase file="tests/test_a.py" name="test_x">'
        "<error/></testcase></testsuite></testsuites>",
    )

    assert parse_reports(tmp_path, ["r.xml"]).failing == ["tests/test_a.py::test_x"]


def test_no_matching_report_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    report = parse_reports(tmp_path, ["reports/*.xml"])

    assert report.total == 0
    assert report.warnings == [
        "no test report matched reports/*.xml; the job is judged by its exit code"
    ]


def test_no_globs_means_no_report_and_no_warning(tmp_path: Path) -> None:
    assert parse_reports(tmp_path, []) == TestReport()


def test_a_malformed_report_is_left_out_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "reports/broken.xml", "<testsuite><testcase name='a'></testsuite>")
    write(tmp_path, "reports/good.xml", MAVEN)

    report = parse_reports(tmp_path, ["reports/*.xml"])

    assert report.total == 3
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("reports/broken.xml is not valid XML (line 1, column")
    assert report.warnings[0].endswith("; it was left out")


def test_xml_that_is_not_junit_is_left_out(tmp_path: Path) -> None:
    write(tmp_path, "reports/coverage.xml", "<coverage line-rate='0.9'/>")

    report = parse_reports(tmp_path, ["reports/*.xml"])

    assert report.warnings == [
        "reports/coverage.xml is not a JUnit report (its root element is <coverage>); "
        "it was left out"
    ]


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<testsuite><testcase name="&lol2;"/></testsuite>
"""


@pytest.mark.parametrize(
    "content",
    [BOMB.encode(), BOMB.encode("utf-16"), b'<!doctype testsuite SYSTEM "file:///etc/passwd">'],
    ids=["entities", "utf-16", "external"],
)
def test_a_report_with_a_doctype_is_refused(tmp_path: Path, content: bytes) -> None:
    write(tmp_path, "reports/bomb.xml", content)

    report = parse_reports(tmp_path, ["reports/*.xml"])

    assert report.total == 0
    assert report.warnings == [
        "reports/bomb.xml declares a DOCTYPE or entities, which Andon refuses to read; "
        "it was left out"
    ]


def test_shard_reports_merge(tmp_path: Path, pytest_report: Path) -> None:
    write(tmp_path, "maven.xml", MAVEN)
    shards = [parse_reports(pytest_report, ["reports/*.xml"]), parse_reports(tmp_path, ["*.xml"])]
    shards.append(parse_reports(tmp_path, ["missing/*.xml"]))

    merged = TestReport.merge(shards)

    assert (merged.total, merged.passed, merged.failures, merged.errors, merged.skipped) == (
        8,
        3,
        2,
        1,
        2,
    )
    assert merged.failing == [
        "test_shop::test_fails",
        "test_shop::test_errors",
        "com.shop.CartTest::appliesDiscount",
    ]
    assert len(merged.durations) == 8
    assert merged.warnings == shards[2].warnings


def test_a_report_survives_a_round_trip_through_json(pytest_report: Path) -> None:
    report = parse_reports(pytest_report, ["reports/*.xml"])

    assert TestReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report
