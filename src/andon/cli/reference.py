"""The CLI reference (docs/cli.md), generated from the commands themselves.

``andon cli-reference`` walks the command tree that typer builds from the CLI and prints
every visible command, in the order ``--help`` lists them, as Markdown; a test holds
docs/cli.md to that output. Nothing here reads the terminal (no width, no colour) or the
machine (a default under the user's home is written ``~``), so the page is the same
wherever it is made.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

PROGRAM = "andon"
REGENERATE = "andon cli-reference > docs/cli.md"
"""The command that makes docs/cli.md."""

_Command = TyperCommand | TyperGroup
_Parameter = TyperArgument | TyperOption
_TYPE_NAMES = {"str": "text", "int": "integer", "float": "number", "path": "path"}


@dataclass(frozen=True)
class _Row:
    """One argument or option, as a line of its table."""

    names: str
    kind: str
    default: str
    meaning: str


def cli_reference(ctx: typer.Context) -> None:
    """Print the reference of every command in Markdown: the page docs/cli.md."""
    root = ctx.find_root().command
    assert isinstance(root, TyperGroup)
    sys.stdout.write(markdown_reference(root))


def markdown_reference(root: TyperGroup) -> str:
    """The Markdown page of ``root`` and every visible command under it: a table of
    contents, then each command's usage, help, arguments and options. No side effects."""
    contexts = list(_walk(root, _root_context(root)))
    help_names = ", ".join(f"`{name}`" for name in contexts[0].help_option_names)
    lines = [
        "# Command-line reference",
        "",
        f"Every command of `{PROGRAM}`, in the order `{PROGRAM} --help` lists them, with its",
        "arguments and options. This page is generated from the commands themselves",
        f"(`{PROGRAM} cli-reference`), so it describes the version that prints it. Every",
        f"command also takes {help_names}, which prints the same in a terminal.",
        "",
        "## Contents",
        "",
    ]
    for ctx in contexts:
        indent = "  " * max(_depth(ctx) - 1, 0)
        lines.append(f"{indent}- [`{ctx.command_path}`](#{_anchor(ctx.command_path)})")
    for ctx in contexts:
        lines += ["", *_section(ctx)]
    return "\n".join(lines) + "\n"


def _root_context(root: TyperGroup) -> typer.Context:
    # The CLI's own context settings (``-h``), and a fixed name however it was invoked.
    return typer.Context(root, info_name=PROGRAM, **root.context_settings)


def _walk(command: _Command, ctx: typer.Context) -> Iterator[typer.Context]:
    """``ctx`` and the contexts of the visible commands under it, depth first."""
    yield ctx
    if isinstance(command, TyperGroup):
        for name, child in _visible(command, ctx):
            yield from _walk(child, typer.Context(child, parent=ctx, info_name=name))


def _visible(group: TyperGroup, ctx: typer.Context) -> Iterator[tuple[str, _Command]]:
    """The group's commands that ``--help`` shows, in its order."""
    for name in group.list_commands(ctx):
        child = group.get_command(ctx, name)
        if isinstance(child, _Command) and not child.hidden:
            yield name, child


def _depth(ctx: typer.Context) -> int:
    return ctx.command_path.count(" ")


def _anchor(heading: str) -> str:
    """The fragment GitHub gives a heading: lower case, punctuation dropped, spaces as
    dashes."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _section(ctx: typer.Context) -> list[str]:
    command = ctx.command
    assert isinstance(command, _Command)
    usage = " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])
    lines = [f"{'#' * min(max(_depth(ctx), 1) + 1, 6)} `{ctx.command_path}`", ""]
    lines += ["```", usage, "```", ""]
    for paragraph in _paragraphs(command.help):
        lines += [_escape(paragraph), ""]
    params = [p for p in command.params if isinstance(p, _Parameter) and not p.hidden]
    arguments = [_row(p, ctx) for p in params if isinstance(p, TyperArgument)]
    options = [_row(p, ctx) for p in params if isinstance(p, TyperOption)]
    for heading, rows in (("argument", arguments), ("option", options)):
        if rows:
            lines += _table(heading, rows)
            lines.append("")
    if isinstance(command, TyperGroup):
        lines += _subcommand_list(command, ctx)
    return lines[:-1] if lines[-1] == "" else lines


def _paragraphs(text: str | None) -> list[str]:
    """The help's paragraphs, each on one line (click's ``\\b`` markers dropped)."""
    cleaned = inspect.cleandoc(text or "")
    paragraphs = re.split(r"\n\s*\n", cleaned)
    return [
        " ".join(line.strip() for line in paragraph.splitlines() if line.strip() != "\b")
        for paragraph in paragraphs
        if paragraph.strip()
    ]


def _subcommand_list(group: TyperGroup, ctx: typer.Context) -> list[str]:
    lines = ["| command | what it does |", "|---|---|"]
    for name, child in _visible(group, ctx):
        anchor = _anchor(f"{ctx.command_path} {name}")
        summary = next(iter(_paragraphs(child.help)), "")
        lines.append(f"| [`{name}`](#{anchor}) | {_in_cell(_escape(summary))} |")
    return [*lines, ""]


def _table(heading: str, rows: list[_Row]) -> list[str]:
    lines = [f"| {heading} | type | default | meaning |", "|---|---|---|---|"]
    for row in rows:
        cells = (row.names, row.kind, row.default, row.meaning)
        lines.append(f"| {' | '.join(_in_cell(cell) for cell in cells)} |")
    return lines


def _row(param: _Parameter, ctx: typer.Context) -> _Row:
    if isinstance(param, TyperArgument):
        names = f"`{param.metavar or param.name}`"
    else:
        # Short forms first, as in ``-p, --project``; a negative flag after a slash.
        opts = sorted(param.opts, key=lambda opt: opt.startswith("--"))
        names = ", ".join(f"`{opt}`" for opt in opts)
        if param.secondary_opts:
            names += " / " + ", ".join(f"`{opt}`" for opt in param.secondary_opts)
    meaning = " ".join((param.help or "").split())
    if param.envvar:
        variables = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar)
        meaning += " Read from " + ", ".join(f"`{name}`" for name in variables) + "."
    return _Row(names, _kind(param, ctx), _default(param, ctx), _escape(meaning.strip()))


def _kind(param: _Parameter, ctx: typer.Context) -> str:
    if isinstance(param, TyperOption) and param.is_flag:
        return "flag"
    label = param.display_type(ctx).removeprefix("<").removesuffix(">")
    if param.type_descriptor.is_choice:
        kind = "one of " + ", ".join(f"`{choice}`" for choice in label.split("|"))
    elif label.endswith(" range"):
        base = label.removesuffix(" range")
        kind = _TYPE_NAMES.get(base, base) + _bounds(param)
    else:
        kind = _TYPE_NAMES.get(label, label)
    return kind + ", repeatable" if param.multiple else kind


def _bounds(param: _Parameter) -> str:
    low, high = param.min, param.max
    if low is not None and high is not None:
        return f", {low:g} to {high:g}"
    if low is not None:
        return f", at least {low:g}"
    return f", at most {high:g}" if high is not None else ""


def _default(param: _Parameter, ctx: typer.Context) -> str:
    if param.required:
        return "required"
    if isinstance(param.show_default, str):
        return _escape(param.show_default)
    value = param.get_default(ctx, call=False)
    if not param.show_default or value is None or value in ("", (), []):
        return "—"
    if isinstance(param, TyperOption) and param.is_flag:
        if param.secondary_opts:
            return f"`{(param.opts if value else param.secondary_opts)[0]}`"
        return "on" if value else "—"
    if callable(value):
        return "computed"
    values = value if isinstance(value, list | tuple) else [value]
    return ", ".join(f"`{_portable(item)}`" for item in values)


def _portable(value: object) -> str:
    """A default as text, with the user's home written ``~``: the page must not hold the
    home of whoever made it."""
    text = str(value.value) if isinstance(value, Enum) else str(value)
    home = str(Path.home())
    return "~" + text.removeprefix(home) if home != "/" and text.startswith(home) else text


def _in_cell(markdown: str) -> str:
    """Markdown that stays inside its table cell, code spans included."""
    return markdown.replace("|", "\\|")


def _escape(text: str) -> str:
    """Prose as Markdown: a ``<`` that would open an HTML tag is written as text."""
    return re.sub(r"<(?=[A-Za-z/!?])", r"\\<", text)
