"""The documentation names only what exists: every ``andon …`` command quoted in README.md
and docs/*.md is a command of the CLI, given options it takes, and every environment
variable docs/operations.md names is one Andon reads (and each it reads is there)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import typer
import uvicorn.config
from typer.core import TyperGroup

from andon.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OPERATIONS = ROOT / "docs" / "operations.md"


# -- the CLI as a tree of names ----------------------------------------------------------


@dataclass
class Node:
    """A command or group: the options it takes and, for a group, its commands."""

    options: set[str] = field(default_factory=set)
    commands: dict[str, Node] = field(default_factory=dict)


def _tree() -> Node:
    root_command = typer.main.get_command(app)
    help_names = set(root_command.context_settings.get("help_option_names", ["--help"]))

    def node_of(command: object) -> Node:
        node = Node(options=set(help_names))
        for param in getattr(command, "params", []):
            node.options.update(getattr(param, "opts", []), getattr(param, "secondary_opts", []))
        if isinstance(command, TyperGroup):
            # Hidden commands too: they exist, and a page may name one (git hooks call one).
            node.commands = {name: node_of(sub) for name, sub in command.commands.items()}
        return node

    return node_of(root_command)


CLI = _tree()


# -- finding commands in Markdown --------------------------------------------------------

_FENCE = re.compile(r"^(```|~~~)[ \t]*([\w+-]*)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_SHELL = {"", "sh", "bash", "shell", "console", "zsh", "text"}
# A code span may wrap lines but not cross a blank one.
_SPAN = re.compile(r"(?<!`)(`+)(?!`)((?:[^`\n]|\n(?!\s*\n))+?)(?<!`)\1(?!`)")
# Where one shell command ends and the next may begin: a bare pipe (spaces around it),
# &&, ||, ;, or the start of a command substitution.
_SEPARATOR = re.compile(r"\s\|\s|&&|\|\||;|\$\(")
_PREFIXES = {"sudo", "time", "exec", "nohup", "do", "then", "else", "!"}
_WORD = re.compile(r"[a-z][a-z0-9-]*(?:\|[a-z][a-z0-9-]*)*")
_OPTION = re.compile(r"--?[A-Za-z][\w-]*")
_MODULE = ["-m", "andon"]


@dataclass(frozen=True)
class Quoted:
    """An ``andon`` command line as a page quotes it."""

    path: Path
    line: int
    text: str

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: `{self.text.strip()}`"


def quoted_commands(path: Path, text: str) -> Iterator[Quoted]:
    """Every ``andon …`` command in the shell blocks and code spans of ``text``."""
    outside = text
    for fence in _FENCE.finditer(text):
        # Fenced blocks are read whole, line by line; their code spans are not spans.
        outside = outside.replace(fence[0], "\n" * fence[0].count("\n"), 1)
        if fence[2].lower() not in _SHELL:
            continue
        line_number = text.count("\n", 0, fence.start(3)) + 1
        for line, lines_taken in _shell_lines(fence[3]):
            for segment in _SEPARATOR.split(re.sub(r"^\s*\$\s", "", line)):
                if _starts_andon(segment):
                    yield Quoted(path, line_number, segment)
            line_number += lines_taken
    for span in _SPAN.finditer(outside):
        # In a table, an escaped pipe is an alternative (``--artifact D \| --commit SHA``).
        content = span[2].replace("\\|", " ").replace("\n", " ")
        line = outside.count("\n", 0, span.start()) + 1
        for segment in _SEPARATOR.split(content):
            if _starts_andon(segment):
                yield Quoted(path, line, segment)


def _shell_lines(block: str) -> Iterator[tuple[str, int]]:
    """Each logical line of a shell block (a backslash continues it) and how many lines of
    the page it takes."""
    pending: list[str] = []
    for line in block.split("\n"):
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        yield " ".join([*pending, line]), len(pending) + 1
        pending = []
    if pending:
        yield " ".join(pending), len(pending)


def _tokens(segment: str) -> list[str]:
    try:
        tokens = shlex.split(segment, comments=True)
    except ValueError:
        tokens = segment.split()
    while tokens and (tokens[0] in _PREFIXES or re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", tokens[0])):
        tokens = tokens[1:]
    # Redirections and a trailing & end what the command itself is given.
    for index, token in enumerate(tokens):
        if re.match(r"\d*[<>]|&$", token):
            return tokens[:index]
    return tokens


def _program_end(tokens: list[str]) -> int | None:
    """How many tokens name the program when it is Andon's CLI, else None."""
    # The console script by name or by path (``.venv/bin/andon``), not a URL ending in it.
    if tokens and re.fullmatch(r"(?:[\w.~-]*/)*andon", tokens[0]):
        return 1
    if re.fullmatch(r"\S*python[\d.]*", tokens[0] if tokens else "") and tokens[1:3] == _MODULE:
        return 3
    return None


def _starts_andon(segment: str) -> bool:
    return _program_end(_tokens(segment)) is not None


def problems_of(quoted: Quoted) -> list[str]:
    """What is wrong with a quoted command: a command or an option that does not exist."""
    tokens = _tokens(quoted.text)
    start = _program_end(tokens)
    assert start is not None
    node, path = CLI, ["andon"]
    found: list[str] = []
    rest = tokens[start:]
    while node.commands and rest:
        token = rest[0].strip("[](){}")
        if _OPTION.fullmatch(token):
            if token not in node.options:
                found.append(f"'{' '.join(path)}' has no option {token}")
            rest = rest[1:]
            continue
        if not _WORD.fullmatch(token):
            # A placeholder (COMMAND, <name>, …): what follows is not checked.
            return found
        names = token.split("|")
        unknown = [name for name in names if name not in node.commands]
        if unknown:
            known = ", ".join(node.commands)
            return [*found, f"'{' '.join(path)}' has no command {unknown[0]} (it has {known})"]
        if len(names) > 1:
            return found
        node, path, rest = node.commands[token], [*path, token], rest[1:]
    if node.commands:
        return found
    for token in rest:
        if token == "--":
            break
        for option in re.split(r"/(?=-)", token.strip("[](){},").split("=", 1)[0]):
            if _OPTION.fullmatch(option) and option not in node.options:
                found.append(f"'{' '.join(path)}' has no option {option}")
    return found


# -- the tests ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_quoted_andon_command_exists(path: Path) -> None:
    quoted = list(quoted_commands(path, path.read_text("utf-8")))
    wrong = [f"{q.where()}: {problem}" for q in quoted for problem in problems_of(q)]
    assert not wrong, "\n".join(wrong)


def test_the_pages_quote_commands_for_the_check_to_read() -> None:
    # Guards the test above against passing because it finds nothing.
    readme = ROOT / "README.md"
    assert len(list(quoted_commands(readme, readme.read_text("utf-8")))) >= 20


SAMPLE = """\
Install, then `andon start` and `andon pipline run`; `andon.yaml` is not a command, nor is
the andon cord. `andon deploy ENV [--artifact D \\| --commit SHA] [--wait]` and
`andon env up --fast`, `andon flags token list|revoke`, `andon env COMMAND --help`.
A URL that ends in it is no command either: `postgresql://h/andon`.

```sh
ANDON_URL=http://h:8700 andon project list --json && andon line stop --reason "red" | tee x
andon env up test \\
    --wait 2>&1 > /dev/null
$ python -m andon token create --quiet  # for scripts
```

```python
from andon import flags
```
"""


def test_the_check_reads_spans_and_shell_blocks_and_nothing_else() -> None:
    quoted = list(quoted_commands(Path(ROOT / "sample.md"), SAMPLE))
    assert [" ".join(q.text.split()) for q in quoted] == [
        "ANDON_URL=http://h:8700 andon project list --json",
        'andon line stop --reason "red"',
        "andon env up test --wait 2>&1 > /dev/null",
        "python -m andon token create --quiet # for scripts",
        "andon start",
        "andon pipline run",
        "andon deploy ENV [--artifact D --commit SHA] [--wait]",
        "andon env up --fast",
        "andon flags token list|revoke",
        "andon env COMMAND --help",
    ]
    assert [q.line for q in quoted] == [7, 7, 8, 10, 1, 1, 2, 3, 3, 3]
    problems = {" ".join(q.text.split()): problems_of(q) for q in quoted}
    assert problems["andon pipline run"] == [
        f"'andon' has no command pipline (it has {', '.join(CLI.commands)})"
    ]
    assert problems["andon env up --fast"] == ["'andon env up' has no option --fast"]
    assert sum(bool(found) for found in problems.values()) == 2


# -- environment variables ---------------------------------------------------------------

_VARIABLE = re.compile(r"\bANDON_[A-Z0-9_]*[A-Z0-9]\b")
# Where Andon reads its own settings from the environment: the server's and the CLI's.
_SETTINGS_SOURCES = [
    "src/andon/settings.py",
    "src/andon/cli/_client.py",
    "src/andon/cli/__init__.py",
    "src/andon/analysis/providers/prometheus.py",
]


def test_every_variable_the_guide_names_is_one_andon_uses() -> None:
    source = "\n".join(path.read_text("utf-8") for path in (ROOT / "src" / "andon").rglob("*.py"))
    named = set(_VARIABLE.findall(OPERATIONS.read_text("utf-8")))
    assert named, "docs/operations.md names no ANDON_* variable"
    unknown = sorted(name for name in named if name not in source)
    assert not unknown, f"docs/operations.md names variables Andon never uses: {unknown}"


def test_every_setting_andon_reads_from_the_environment_is_in_the_guide() -> None:
    read = {
        match
        for name in _SETTINGS_SOURCES
        for match in re.findall(r'"(ANDON_[A-Z0-9_]+)"', (ROOT / name).read_text("utf-8"))
    }
    guide = OPERATIONS.read_text("utf-8")
    missing = sorted(name for name in read if f"`{name}`" not in guide)
    assert not missing, f"docs/operations.md does not describe {missing}"


def test_the_proxy_variable_the_guide_names_is_uvicorns() -> None:
    # The guide tells operators behind a proxy on another host to set it; uvicorn reads it
    # because the server leaves forwarded_allow_ips unset.
    if "FORWARDED_ALLOW_IPS" in OPERATIONS.read_text("utf-8"):
        assert "FORWARDED_ALLOW_IPS" in Path(uvicorn.config.__file__).read_text("utf-8")
