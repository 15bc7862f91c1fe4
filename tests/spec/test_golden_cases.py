"""The andon.yaml loader against its golden cases: every invalid case reports exactly the
problems in its ``.expected`` file, all at once and each in its place; every valid case
loads; and ``andon validate`` prints the same lines.

A case is ``cases/invalid/NAME.yaml`` (or ``NAME.bin`` for bytes that are not text) beside
``NAME.expected``. Documents too large or too odd to keep as files are generated here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from andon.errors import SpecError
from andon.spec import AndonSpec, load_spec, parse_spec

CASES = Path(__file__).parent / "cases"
INVALID = CASES / "invalid"
EXAMPLE = Path(__file__).parents[2] / "examples/shop/andon.yaml"

REPOSITORY_FILES = frozenset({"config/shop.toml.j2", "config/logging.ini.j2"})
"""Every case is checked as if it sat in a repository that holds exactly these files: the
valid cases' templates name only them, and template_missing names one that is not here.
One fixed repository for all cases keeps the file check on everywhere, so that a case
cannot pass merely because nothing looked for its files."""


def repository_has(path: str) -> bool:
    """``file_exists`` for the cases' stand-in repository."""
    return path in REPOSITORY_FILES


def invalid_cases() -> list[Path]:
    return sorted(path for path in INVALID.iterdir() if path.suffix in {".yaml", ".bin"})


def valid_cases() -> list[Path]:
    return sorted(CASES.glob("valid_*.yaml"))


def expected_lines(case: Path) -> list[str]:
    return case.with_suffix(".expected").read_text("utf-8").splitlines()


def problem_lines(raw: bytes | str) -> list[str]:
    """The lines ``parse_spec`` reports for ``raw``; failing the test if it accepts it."""
    with pytest.raises(SpecError) as caught:
        parse_spec(raw, source="andon.yaml", file_exists=repository_has)
    return caught.value.lines()


@pytest.mark.parametrize("case", invalid_cases(), ids=lambda case: case.stem)
def test_invalid_case_reports_exactly_its_expected_problems(case: Path) -> None:
    assert problem_lines(case.read_bytes()) == expected_lines(case)


@pytest.mark.parametrize("case", valid_cases(), ids=lambda case: case.stem)
def test_valid_case_loads(case: Path) -> None:
    spec = parse_spec(case.read_bytes(), file_exists=repository_has)

    assert isinstance(spec, AndonSpec)
    assert spec.service.name
    assert spec.processes
    assert spec.environments


def test_there_are_enough_cases_and_each_is_complete() -> None:
    names = [case.stem for case in invalid_cases()]
    verdicts = json.loads((INVALID / "schema_verdicts.json").read_text("utf-8"))

    assert len(names) >= 40
    assert len(valid_cases()) >= 5
    assert len(set(names)) == len(names), "a case exists both as .yaml and .bin"
    assert [name for name in names if not (INVALID / f"{name}.expected").is_file()] == []
    assert sorted(verdicts) == names


def test_every_expected_line_names_the_file_a_line_and_a_column() -> None:
    for case in invalid_cases():
        lines = expected_lines(case)
        assert lines, case.name
        for line in lines:
            source, row, column, message = line.split(":", 3)
            assert source == "andon.yaml", line
            assert int(row) >= 1 and int(column) >= 1, line
            assert message.startswith(" ") and message.strip(), line


# Generated documents: too large, or not representable, as files in the repository.


@pytest.mark.timeout(60)
def test_a_ten_megabyte_document_is_refused_before_it_is_parsed() -> None:
    line = "    key: a value that repeats to make a huge andon.yaml\n"
    text = "service:\n  name: shop\nconfig:\n  values:\n" + line * (10 * 1024 * 1024 // len(line))
    size = len(text.encode())
    refusal = (
        f"andon.yaml:1:1: the file is {size:,} bytes; andon.yaml may be at most "
        "1,048,576 bytes, so move data out of it"
    )

    # Parsing 10 MB of YAML takes minutes; refusing it is a length check (the timeout
    # marker fails the test should it ever parse).
    as_text = problem_lines(text)
    as_bytes = problem_lines(text.encode())

    assert as_text == as_bytes == [refusal]


def test_a_file_over_the_limit_is_refused_by_load_spec_without_being_read(
    tmp_path: Path,
) -> None:
    file = tmp_path / "andon.yaml"
    with file.open("wb") as out:
        out.truncate(10 * 1024 * 1024)

    with pytest.raises(SpecError) as caught:
        load_spec(file)

    assert [problem.message for problem in caught.value.problems] == [
        "the file is 10,485,760 bytes; andon.yaml may be at most 1,048,576 bytes, "
        "so move data out of it"
    ]


def test_text_with_a_lone_surrogate_is_a_located_problem() -> None:
    # JSON allows "\ud800", so a str handed over by the API may hold one.
    text = "service:\n  name: sh\ud800op\n"

    assert problem_lines(text) == [
        "andon.yaml:2:11: invalid YAML: the character U+D800 is not allowed; andon.yaml is text"
    ]


@pytest.mark.timeout(60)
def test_nesting_deeper_than_the_parser_can_follow_is_refused() -> None:
    depth = 20_000
    text = "service:\n  name: shop\nconfig:\n  values:\n    deep: " + "[" * depth + "]" * depth

    lines = problem_lines(text)

    assert len(lines) == 1
    assert lines[0].startswith("andon.yaml:")


@pytest.mark.timeout(30)
def test_an_alias_bomb_is_refused_before_it_expands() -> None:
    lines = problem_lines((INVALID / "alias_bomb.yaml").read_bytes())

    assert lines == expected_lines(INVALID / "alias_bomb.yaml")


def test_a_flag_with_an_invalid_state_still_reports_its_mixed_variants() -> None:
    text = """\
service: {name: shop}
processes: {web: {command: python -m shop}}
environments: {dev: {}}
flags:
  flags:
    banner:
      state: on
      variants: {"on": true, "off": 0}
      defaultVariant: "off"
"""

    assert problem_lines(text) == [
        "andon.yaml:7:7: flags.flags.banner: all variants of a flag have one type; "
        "found boolean, number",
        "andon.yaml:7:14: flags.flags.banner.state: unknown state 'on'; "
        "expected one of ENABLED, DISABLED",
    ]


# The real command line, as a person runs it.

CLI_CASES = [
    "unknown_strategy",
    "several_problems_in_every_section",
    "tab_indentation",
    "binary_image",
    "template_missing",
]


def andon_command() -> str:
    beside = Path(sys.executable).parent / "andon"
    found = str(beside) if beside.exists() else shutil.which("andon")
    if found is None:
        pytest.fail("the andon command is not installed; run pip install -e '.[test]'")
    return found


def run_andon(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [andon_command(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "400"},
    )


@pytest.mark.parametrize("name", CLI_CASES)
def test_andon_validate_prints_each_problem_and_exits_1(name: str, tmp_path: Path) -> None:
    case = next(case for case in invalid_cases() if case.stem == name)
    # The same repository the parametrized test imagines, on disk this time.
    for relative in REPOSITORY_FILES:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("{{ log_level }}\n")
    (tmp_path / "andon.yaml").write_bytes(case.read_bytes())
    expected = expected_lines(case)

    result = run_andon("validate", "andon.yaml", cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == expected
    noun = "problem" if len(expected) == 1 else "problems"
    assert result.stderr.startswith(f"error: andon.yaml has {len(expected)} {noun};")
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stdout + result.stderr


def test_the_example_shop_validates(tmp_path: Path) -> None:
    result = run_andon("validate", str(EXAMPLE), cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [result.stdout.strip()]
    assert result.stdout.startswith(f"{EXAMPLE} is valid: service ")
