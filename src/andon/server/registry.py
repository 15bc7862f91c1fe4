"""Registering a service repository: read andon.yaml at the tip of trunk, validate it
against the committed tree, and store the project. Called by the projects API."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from andon.errors import ConflictError, NotFoundError, UsageError
from andon.repos import GitRepository
from andon.settings import Settings
from andon.spec import parse_spec
from andon.store import ProjectRecord, Store

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def register_project(
    store: Store, settings: Settings, *, source: str, subdir: str, name: str | None, trunk: str
) -> tuple[ProjectRecord, bool]:
    """Validate the repository's andon.yaml on trunk and record the project; the flag
    says whether it is new (False: an existing registration was refreshed).

    Nothing is stored unless the file is valid.
    """
    subdir = _clean_subdir(subdir)
    if name is not None and not _NAME.match(name):
        raise UsageError(
            f"'{name}' is not a valid project name; use lower-case letters, digits and dashes."
        )
    mirror_name = name or re.sub(r"[^A-Za-z0-9_.-]+", "-", source.rstrip("/").split("/")[-1])
    repo = GitRepository.open(source, mirrors=settings.repos_dir, name=mirror_name or "repo")
    commit = repo.resolve(trunk)
    spec_path = f"{subdir}/andon.yaml" if subdir else "andon.yaml"
    raw = repo.read(commit, spec_path)

    def exists(relative: str) -> bool:
        return repo.exists(commit, f"{subdir}/{relative}" if subdir else relative)

    spec = parse_spec(raw, source=spec_path, file_exists=exists)
    document = spec.model_dump(mode="json", by_alias=True)
    project_name = name or spec.service.name
    existing = _find(store, project_name)
    # Adding the same repository again refreshes it (as 'kubectl apply' would);
    # a different repository under a taken name is a conflict.
    if existing is not None and (existing.source, existing.subdir) == (source, subdir):
        refreshed = store.projects.update_spec(
            project_name, commit=commit, spec=document, service=spec.service.name
        )
        return refreshed, False
    if existing is not None:
        raise ConflictError(
            f"a project named '{project_name}' exists already for {existing.source}; "
            "choose another --name or remove it first."
        )
    created = store.projects.add(
        name=project_name,
        source=source,
        subdir=subdir,
        trunk=trunk,
        service=spec.service.name,
        commit=commit,
        spec=document,
    )
    return created, True


def _find(store: Store, name: str) -> ProjectRecord | None:
    try:
        return store.projects.get(name)
    except NotFoundError:
        return None


def _clean_subdir(subdir: str) -> str:
    path = PurePosixPath(subdir.strip() or ".")
    if path.is_absolute() or ".." in path.parts:
        raise UsageError(f"--dir '{subdir}' must be a directory inside the repository.")
    return "" if str(path) == "." else str(path)
