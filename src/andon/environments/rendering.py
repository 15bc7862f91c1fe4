"""Rendering andon.yaml's ``config.templates`` into a release directory, all or nothing.

Deploys call :func:`render_templates` after unpacking a release and layering its values.
Jinja2 runs sandboxed, with ``StrictUndefined`` (a missing value is an error, never an
empty string) and no autoescaping (config files are not HTML). Every template is rendered
in memory first and every failure reported with its file and line; files are written to
temporary names and renamed into place only when all of them were written, so a release
never holds half-rendered config. The returned checksums are what drift is checked against.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from andon.errors import ConfigurationError, PermanentError
from andon.spec import TemplateSpec
from andon.spec.problems import did_you_mean

# Rendered config may hold secrets and database passwords.
RENDERED_MODE = 0o600
_NAMES_SHOWN = 30
_UNDEFINED = re.compile(r"^'([^']+)' is undefined$")
_MASK = "***"


class TemplateError(PermanentError):
    """Config templates cannot be rendered; ``problems`` holds one located line per failure,
    ``config/shop.toml.j2:11: 'shop_nam' is undefined; ...``."""

    http_status = 422
    code = "invalid_template"

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} config templates cannot be rendered: " + "; ".join(
                self.problems
            )
        super().__init__(message)

    def lines(self) -> list[str]:
        """One located line per problem."""
        return list(self.problems)


@dataclass(frozen=True, slots=True)
class _Rendered:
    destination: str
    path: Path
    text: str


def render_templates(
    templates: Sequence[TemplateSpec],
    release_dir: Path,
    values: Mapping[str, Any],
    *,
    secrets: Iterable[str] = (),
) -> dict[str, str]:
    """Render each template's ``source`` in ``release_dir`` to its ``destination`` there,
    and answer the sha256 (hex) of each rendered file by destination.

    TemplateError lists every template that fails (undefined value, syntax error, a source
    missing from the release, a destination outside it); nothing is written then. Values
    in ``secrets`` are masked in messages, which may quote what a template computed.
    """
    root = release_dir.resolve()
    environment = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(root),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    rendered: list[_Rendered] = []
    problems: list[str] = []
    taken: dict[str, str] = {}
    for template in templates:
        try:
            source = _inside(root, template.source, "source")
            destination = _inside(root, template.destination, "destination")
            if destination in taken:
                raise _RenderingError(
                    f"{template.source}: its destination {destination} is also the "
                    f"destination of {taken[destination]}; give each template its own."
                )
            taken[destination] = template.source
            text = _render(environment, root, source, values)
        except _RenderingError as problem:
            problems.append(_masked(str(problem), secrets))
            continue
        rendered.append(_Rendered(destination, root / destination, text))
    if problems:
        raise TemplateError(problems)
    _write_all(rendered, root)
    return {item.destination: _sha256(item.text) for item in rendered}


class _RenderingError(Exception):
    """One template's failure, already worded."""


def _inside(root: Path, name: str, role: str) -> str:
    """``name`` as a clean relative POSIX path that stays inside ``root``."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise _RenderingError(
            f"{name}: a template {role} is a path inside the release, without '..'; "
            "fix it in andon.yaml."
        )
    clean = path.as_posix()
    # A symbolic link in the release could still lead outside it.
    if not (root / clean).resolve().is_relative_to(root):
        raise _RenderingError(f"{name}: the template {role} leads outside the release by a link.")
    return clean


def _render(
    environment: SandboxedEnvironment, root: Path, source: str, values: Mapping[str, Any]
) -> str:
    try:
        template = environment.get_template(source)
        return template.render(values)
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.name or source}:{exc.lineno}"
        raise _RenderingError(f"{where}: {exc.message}") from exc
    except jinja2.TemplateNotFound as exc:
        if exc.name == source:
            raise _RenderingError(
                f"{source}: the template is not in the release; add it to package.paths "
                "in andon.yaml."
            ) from exc
        where = _location(exc.__traceback__, root, source)
        raise _RenderingError(
            f"{where}: includes {exc.name}, which is not in the release."
        ) from exc
    except jinja2.UndefinedError as exc:
        where = _location(exc.__traceback__, root, source)
        raise _RenderingError(f"{where}: {_undefined(exc.message or str(exc), values)}") from exc
    except jinja2.TemplateError as exc:
        where = _location(exc.__traceback__, root, source)
        raise _RenderingError(f"{where}: {exc.message or type(exc).__name__}") from exc
    except Exception as exc:
        # A filter or operator failing on a value: ``{{ "a" / 2 }}``, ``{{ x | int(base=1) }}``.
        where = _location(exc.__traceback__, root, source)
        raise _RenderingError(f"{where}: {type(exc).__name__}: {exc}") from exc


def _location(traceback: TracebackType | None, root: Path, source: str) -> str:
    """``template:line`` of the innermost template frame of ``traceback``; Jinja2 rewrites
    its tracebacks so that template code appears under the template's file and line."""
    found = source
    prefix = f"{root}{os.sep}"
    while traceback is not None:
        filename = traceback.tb_frame.f_code.co_filename
        if filename.startswith(prefix):
            relative = PurePosixPath(Path(filename).relative_to(root).as_posix())
            found = f"{relative}:{traceback.tb_lineno}"
        traceback = traceback.tb_next
    return found


def _undefined(message: str, values: Mapping[str, Any]) -> str:
    """Jinja2's ``'x' is undefined`` with the values that are defined and a likely one."""
    match = _UNDEFINED.match(message)
    if match is None:
        return message
    name = match.group(1)
    names = sorted(values)
    shown = ", ".join(names[:_NAMES_SHOWN])
    if len(names) > _NAMES_SHOWN:
        shown += f", … ({len(names) - _NAMES_SHOWN} more)"
    return f"'{name}' is undefined; defined values: {shown or 'none'}{did_you_mean(name, names)}"


def _masked(text: str, secrets: Iterable[str]) -> str:
    for value in sorted({value for value in secrets if value}, key=len, reverse=True):
        text = text.replace(value, _MASK)
    return text


def _write_all(rendered: Sequence[_Rendered], root: Path) -> None:
    """Write every file to a temporary name beside it, then rename them all into place."""
    temporary: list[tuple[Path, Path]] = []
    try:
        for item in rendered:
            item.path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{item.path.name}.", dir=item.path.parent)
            temporary.append((Path(name), item.path))
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
                file.write(item.text)
                os.fchmod(file.fileno(), RENDERED_MODE)
                file.flush()
                os.fsync(file.fileno())
        for written, final in temporary:
            os.replace(written, final)
    except OSError as exc:
        where = exc.filename or root
        raise ConfigurationError(
            f"cannot write the rendered config into {root} ({where}: "
            f"{(exc.strerror or str(exc)).lower()}); check that it is writable and not full."
        ) from exc
    finally:
        for written, _final in temporary:
            written.unlink(missing_ok=True)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
