"""Load andon.yaml: read the YAML, validate it against the models, run the cross-field
checks, and report every problem with its line and column, all at once.

The CLI (``andon validate``), the server (when a project is registered) and the pipeline
call :func:`load_spec` or :func:`parse_spec`; both return a model or raise
:class:`~andon.errors.SpecError`, nothing else.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from andon.errors import NotFoundError, SpecError
from andon.spec._reading import MAX_BYTES, ReadError, read_yaml
from andon.spec._translating import translate
from andon.spec.checking import FileExists, check_document
from andon.spec.document import AndonSpec
from andon.spec.problems import Problem


def parse_spec(
    raw: bytes | str, *, source: str = "andon.yaml", file_exists: FileExists | None = None
) -> AndonSpec:
    """Validate the text of an andon.yaml.

    ``source`` names the file in messages; with ``file_exists`` (which answers for paths
    relative to the file's directory, on disk or in a git tree), files the spec names,
    such as config templates, must exist.
    """
    try:
        doc = read_yaml(raw)
    except ReadError as failed:
        raise SpecError(failed.problems, path=source) from None
    problems: list[Problem] = list(doc.problems)
    spec: AndonSpec | None = None
    try:
        spec = AndonSpec.model_validate(doc.data)
    except ValidationError as exc:
        problems += translate(exc, AndonSpec, doc)
    problems += check_document(doc, file_exists)
    if problems:
        raise SpecError(sorted(set(problems)), path=source)
    assert spec is not None
    return spec


def load_spec(path: Path | str, *, check_files: bool = True) -> AndonSpec:
    """Read and validate the andon.yaml at ``path``."""
    file = Path(path)
    if file.is_dir():
        file = file / "andon.yaml"
    try:
        size = file.stat().st_size
        # Refuse huge files before reading them into memory.
        raw = file.read_bytes() if size <= MAX_BYTES else b" " * (MAX_BYTES + 1)
    except FileNotFoundError:
        raise NotFoundError(
            f"there is no {file}; 'andon init' writes one for the repository here."
        ) from None
    except OSError as exc:
        raise NotFoundError(f"cannot read {file}: {exc.strerror}.") from None
    if size > MAX_BYTES:
        raise SpecError(
            [
                Problem(
                    1,
                    1,
                    "",
                    f"the file is {size:,} bytes; andon.yaml may be at most "
                    f"{MAX_BYTES:,} bytes, so move data out of it",
                )
            ],
            path=str(path),
        )
    root = file.parent

    def exists(relative: str) -> bool:
        return (root / relative).is_file()

    return parse_spec(raw, source=str(path), file_exists=exists if check_files else None)
