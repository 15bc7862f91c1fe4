"""What an artifact archive may name: the one set of rules that building applies before it
writes an archive and unpacking applies before it extracts one, so that Andon never builds
an archive it would refuse to unpack.

Each check answers with the reason a member is unsafe (a phrase that completes "member X …"),
or None when it is safe; callers word the sentence for their own situation.
"""

from __future__ import annotations

from collections.abc import Collection


def name_parts(name: str) -> tuple[str, ...]:
    """The components of the archive member ``name``, without empty and ``.`` ones."""
    return tuple(part for part in name.split("/") if part not in ("", "."))


def normalized_name(name: str) -> str:
    """``name`` as the archive means it: ``./shop//app.py`` is ``shop/app.py``."""
    return "/".join(name_parts(name))


def name_problem(name: str, links: Collection[str]) -> str | None:
    """Why the member ``name`` could land outside the directory it is unpacked into.

    ``links`` holds the normalized names of every symbolic link in the archive: a member
    below one of them would be written wherever that link points.
    """
    if name.startswith("/"):
        return "is an absolute path"
    parts = name_parts(name)
    if not parts:
        return "has an empty name"
    if ".." in parts:
        return "climbs out of the archive with '..'"
    for end in range(1, len(parts)):
        parent = "/".join(parts[:end])
        if parent in links:
            return f"lies under the symbolic link {parent}"
    return None


def link_problem(name: str, target: str, links: Collection[str]) -> str | None:
    """Why the symbolic link ``name`` pointing at ``target`` could reach outside the archive.

    The target is followed lexically from the link's directory. That is exact only while no
    intermediate component is itself a link (``a/b/..`` is not ``a`` when ``b`` is a link),
    so a target that passes through another link of the archive is refused too.
    """
    if not target:
        return "is a symbolic link with an empty target"
    if target.startswith("/"):
        return f"is a symbolic link to the absolute path {target}"
    where = list(name_parts(name)[:-1])
    steps = name_parts(target)
    for index, step in enumerate(steps):
        if step == "..":
            if not where:
                return f"is a symbolic link to {target}, outside the archive"
            where.pop()
            continue
        where.append(step)
        passing = "/".join(where)
        if index < len(steps) - 1 and passing in links:
            return f"is a symbolic link to {target}, through the symbolic link {passing}"
    return None


def hardlink_problem(target: str, earlier_files: Collection[str]) -> str | None:
    """Why a hard link to ``target`` is unsafe; it may only name a file earlier in the archive."""
    if target.startswith("/") or ".." in name_parts(target):
        return f"is a hard link to {target}, outside the archive"
    if normalized_name(target) not in earlier_files:
        return f"is a hard link to {target}, which is not a file earlier in the archive"
    return None
