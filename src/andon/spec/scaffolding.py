"""A commented, valid andon.yaml for a repository, written by ``andon init``.

It looks at the repository (pyproject.toml or requirements.txt, a tests folder) to fill
in the commands, and leaves every section a person will want to adjust explained.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path


def _service_name(repo: Path) -> str:
    name = ""
    pyproject = repo / "pyproject.toml"
    if pyproject.is_file():
        try:
            name = str(
                tomllib.loads(pyproject.read_text("utf-8")).get("project", {}).get("name", "")
            )
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
            name = ""
    name = name or repo.resolve().name
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].strip("-")
    return slug or "service"


def starter_spec(repo: Path) -> str:
    """The text of a starting andon.yaml for the repository at ``repo``.

    No side effects: it reads a few files and returns text.
    """
    name = _service_name(repo)
    module = name.replace("-", "_")
    if (repo / "requirements.txt").is_file():
        install = "pip install -r requirements.txt"
        lock = "requirements.txt"
    elif (repo / "pyproject.toml").is_file():
        install = "pip install ."
        lock = "pyproject.toml"
    else:
        install = "echo nothing to install"
        lock = None
    tests = next((d for d in ("tests", "test") if (repo / d).is_dir()), None)
    test_command = (
        f"python -m pytest {tests} -q --junitxml=reports/junit.xml"
        if tests
        else ("python -m pytest -q --junitxml=reports/junit.xml")
    )
    lock_line = f"  lock: {lock}\n" if lock else ""
    return f"""\
# andon.yaml: everything needed to recreate {name} and its environments from nothing.
# Check it with 'andon validate'; 'andon schema' gives editors its JSON Schema.
version: 1

service:
  name: {name}
  description: ""          # one sentence, shown on the dashboard
  owner: ""                # the team that answers for it

# The kinds of process the service runs. Each instance learns its port from $PORT.
processes:
  web:
    command: python -m {module}
    health: /healthz       # answers 200 when an instance is ready for traffic
    instances: 1
    stop_timeout: 10s

# Pipeline jobs, run for every commit on trunk in a clean workspace of that commit.
build:
  deps:
    command: {install}
    inputs: ["{lock or "pyproject.toml"}"]
    cache: [.cache/pip]
    cache_key: ["{lock or "pyproject.toml"}"]
    env:
      PIP_CACHE_DIR: .cache/pip

test:
  unit:
    command: {test_command}
    needs: [deps]
    timeout: 10m
    reports: [reports/junit.xml]

# What goes into the immutable artifact built once per commit.
package:
  paths: ["."]
  exclude: [".git", "**/__pycache__", "reports"]
{lock_line}
# Checks run against every new version before customers see it.
smoke:
  http:
    - path: /healthz
      status: 200

environments:
  dev: {{}}
  test:
    auto_deploy: true
    strategy: recreate
  staging:
    from: test
  prod:
    instances: 2
    approval: required
    protected: true

# How a new version reaches customers in prod.
release:
  strategy: canary
  steps:
    - weight: 10%
    - analysis: {{}}
    - weight: 50%
    - pause: 1m
  analysis:
    interval: 10s
    min_samples: 100
    metrics:
      - name: errors
        query: error_rate
        threshold: {{max: 1%}}
      - name: latency
        query: latency_p95
        baseline: {{max_increase: 50%}}

# Feature flags, in the flagd flag-definition format.
flags:
  flags: {{}}
"""
