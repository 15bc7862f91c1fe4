"""Checks that span fields: references between sections, cycles, orderings, and files
that must exist in the repository.

They read the raw document (not the validated model) so that they still run, and
still report, when some other part of the file is invalid: a person sees every problem
at once. Each check skips values of the wrong shape; the model reports those.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import PurePosixPath
from typing import Any

from andon.spec._base import JOB_NAME_PATTERN, NAME_PATTERN
from andon.spec._reading import LocatedDocument
from andon.spec._units import parse_percent
from andon.spec.flag_guards import reference_problems
from andon.spec.flags import variant_problems
from andon.spec.problems import DataPath, Problem, did_you_mean

JOB_SECTIONS = ("build", "test", "jobs")


FileExists = Callable[[str], bool]
"""Answers whether a path relative to andon.yaml's directory names a file in the repository."""


def check_document(doc: LocatedDocument, file_exists: FileExists | None = None) -> list[Problem]:
    """Every cross-field problem in ``doc``; with ``file_exists``, also files it names.

    No side effects besides the calls to ``file_exists``.
    """
    problems: list[Problem] = []
    problems += _check_names(doc)
    problems += _check_jobs(doc)
    problems += _check_environments(doc)
    problems += _check_release(doc)
    problems += _check_flags(doc)
    if file_exists is not None:
        problems += _check_files(doc, file_exists)
    return problems


def _mapping(data: Any, *path: str) -> dict[str, Any]:
    node = data
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _named(doc: LocatedDocument, section: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, value in _mapping(doc.data, section).items():
        if isinstance(value, dict):
            yield name, value


def _check_names(doc: LocatedDocument) -> list[Problem]:
    problems = []
    hint = (
        "is not a valid name; use lower-case letters, digits and dashes, starting and "
        "ending with a letter or digit (63 at most)"
    )
    for section in ("processes", "environments"):
        for name in _mapping(doc.data, section):
            if not re.match(NAME_PATTERN, name):
                problems.append(doc.problem((section, name), f"{name!r} {hint}", key=True))
    return problems


def _check_jobs(doc: LocatedDocument) -> list[Problem]:
    problems: list[Problem] = []
    owner: dict[str, DataPath] = {}
    needs: dict[str, list[str]] = {}
    for section in JOB_SECTIONS:
        for name, job in _named(doc, section):
            path: DataPath = (section, name)
            if not re.match(JOB_NAME_PATTERN, name):
                problems.append(
                    doc.problem(
                        path,
                        f"{name!r} is not a valid job name; use letters, digits, '.', '_' and '-'",
                        key=True,
                    )
                )
            if name == "package":
                problems.append(
                    doc.problem(
                        path,
                        "'package' is the name of the step that builds the artifact; "
                        "name this job otherwise",
                        key=True,
                    )
                )
            if name in owner:
                first = owner[name][0]
                problems.append(
                    doc.problem(
                        path,
                        f"a job named '{name}' is already defined "
                        f"in '{first}'; job names are unique",
                        key=True,
                    )
                )
                continue
            owner[name] = path
            listed = job.get("needs")
            needs[name] = (
                [n for n in listed if isinstance(n, str)] if isinstance(listed, list) else []
            )
    for name, path in owner.items():
        for index, need in enumerate(needs[name]):
            where = (*path, "needs", index)
            if need == name:
                problems.append(doc.problem(where, f"job '{name}' cannot need itself"))
            elif need not in owner:
                hint = did_you_mean(need, owner)
                problems.append(doc.problem(where, f"unknown job '{need}'{hint}"))
    cycle = _find_cycle(
        {name: [n for n in deps if n in owner and n != name] for name, deps in needs.items()}
    )
    if cycle:
        origin = owner[cycle[0]]
        chain = " → ".join([*cycle, cycle[0]])
        problems.append(
            doc.problem((*origin, "needs"), f"jobs {chain} form a cycle; remove one of these needs")
        )
    return problems


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes, or None. Iterative, so deep chains are safe."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start, first in graph.items():
        if start in state:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(first))]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                names = [entry[0] for entry in stack]
                return names[names.index(child) :]
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(graph.get(child, []))))
    return None


def _check_environments(doc: LocatedDocument) -> list[Problem]:
    problems = []
    environments = _mapping(doc.data, "environments")
    processes = _mapping(doc.data, "processes")
    parents: dict[str, list[str]] = {}
    for name, env in _named(doc, "environments"):
        parent = env.get("from")
        if isinstance(parent, str):
            if parent == name:
                problems.append(
                    doc.problem(
                        ("environments", name, "from"), f"environment '{name}' cannot copy itself"
                    )
                )
            elif parent not in environments:
                hint = did_you_mean(parent, environments)
                problems.append(
                    doc.problem(
                        ("environments", name, "from"), f"unknown environment '{parent}'{hint}"
                    )
                )
            else:
                parents[name] = [parent]
        instances = env.get("instances")
        if isinstance(instances, dict) and processes:
            for process in instances:
                if process not in processes:
                    hint = did_you_mean(process, processes)
                    problems.append(
                        doc.problem(
                            ("environments", name, "instances", process),
                            f"unknown process '{process}'{hint}",
                            key=True,
                        )
                    )
    cycle = _find_cycle(parents)
    if cycle:
        chain = " → ".join([*cycle, cycle[0]])
        problems.append(
            doc.problem(
                ("environments", cycle[0], "from"),
                f"environments {chain} copy each other in a cycle",
            )
        )
    return problems


def _check_release(doc: LocatedDocument) -> list[Problem]:
    problems = []
    release = _mapping(doc.data, "release")
    metrics = (
        release.get("analysis", {}).get("metrics")
        if isinstance(release.get("analysis"), dict)
        else None
    )
    names = [m.get("name") for m in metrics or [] if isinstance(m, dict)]
    seen: set[str] = set()
    for index, name in enumerate(names):
        if isinstance(name, str) and name in seen:
            problems.append(
                doc.problem(
                    ("release", "analysis", "metrics", index, "name"),
                    f"a metric named '{name}' is already defined",
                )
            )
        if isinstance(name, str):
            seen.add(name)
    steps = release.get("steps")
    last_weight: float | None = None
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict):
            continue
        if "weight" in step:
            try:
                weight = parse_percent(step["weight"])
            except ValueError:
                continue
            if last_weight is not None and weight <= last_weight:
                after = (
                    "repeats the weight before it"
                    if weight == last_weight
                    else f"comes after {last_weight:g}%"
                )
                problems.append(
                    doc.problem(
                        ("release", "steps", index, "weight"),
                        f"step weights must increase; {weight:g}% {after}",
                    )
                )
            last_weight = weight
        analysis = step.get("analysis")
        wanted = analysis.get("metrics") if isinstance(analysis, dict) else None
        for position, metric in enumerate(wanted if isinstance(wanted, list) else []):
            if isinstance(metric, str) and metric not in seen:
                hint = did_you_mean(metric, seen)
                problems.append(
                    doc.problem(
                        ("release", "steps", index, "analysis", "metrics", position),
                        f"unknown metric '{metric}'{hint}; metrics are declared in "
                        "release.analysis.metrics",
                    )
                )
    return problems


def _check_flags(doc: LocatedDocument) -> list[Problem]:
    problems = []
    evaluators = _mapping(doc.data, "flags", "$evaluators")
    for key, flag in _mapping(doc.data, "flags", "flags").items():
        if not isinstance(flag, dict):
            continue
        variants = flag.get("variants")
        if isinstance(variants, dict) and variants:
            for message in variant_problems(variants, flag.get("defaultVariant")):
                problems.append(doc.problem(("flags", "flags", key), message))
        for path, ref in _refs(flag.get("targeting"), ("flags", "flags", key, "targeting")):
            if ref not in evaluators:
                hint = did_you_mean(ref, evaluators)
                problems.append(
                    doc.problem(
                        path,
                        f"unknown evaluator '{ref}'{hint}; shared "
                        "rules are declared in flags.$evaluators",
                    )
                )
    for path, message in reference_problems(_mapping(doc.data, "flags")):
        # An unknown flag is reported on its key; a wrong variant on the value naming it.
        problems.append(doc.problem(("flags", *path), message, key=len(path) == 2))
    return problems


def _refs(node: Any, path: DataPath) -> Iterator[tuple[DataPath, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield (*path, key), value
            else:
                yield from _refs(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _refs(value, (*path, index))


def _check_files(doc: LocatedDocument, file_exists: FileExists) -> list[Problem]:
    problems = []
    templates = _mapping(doc.data, "config").get("templates")
    destinations: set[str] = set()
    for index, template in enumerate(templates if isinstance(templates, list) else []):
        if not isinstance(template, dict):
            continue
        source = template.get("source")
        where = ("config", "templates", index, "source")
        if isinstance(source, str) and source and not _inside(source):
            problems.append(
                doc.problem(
                    where,
                    f"template '{source}' lies outside the "
                    "repository; use a path relative to andon.yaml",
                )
            )
        elif isinstance(source, str) and source and not file_exists(source):
            problems.append(
                doc.problem(
                    ("config", "templates", index, "source"),
                    f"template '{source}' does not exist in the "
                    "repository; the path is relative to andon.yaml",
                )
            )
        destination = template.get("destination")
        if isinstance(destination, str):
            if destination in destinations:
                problems.append(
                    doc.problem(
                        ("config", "templates", index, "destination"),
                        f"two templates write '{destination}'",
                    )
                )
            destinations.add(destination)
    return problems


def _inside(relative: str) -> bool:
    path = PurePosixPath(relative)
    return not path.is_absolute() and ".." not in path.parts
