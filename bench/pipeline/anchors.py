"""The in-run anchors: the same work as the pipeline's jobs, run directly with no
orchestration, so that what Andon adds can be told from what the jobs cost. ``run.py``
measures them in the same run, beside each pipeline."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from workloads import BenchmarkError

GITLAB_PICKUP_SECONDS = 5.0
"""GitLab's runner pickup (queue to job start), median: a vendor figure, not measured here."""

TRUE_COMMAND = "true"


@dataclass(frozen=True)
class ProcessBatch:
    """``count`` processes run ``concurrency`` at a time."""

    wall: float
    """Seconds from the first start to the last end."""
    each: list[float]
    """Seconds each process took, spawn to exit."""


def job_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the runner gives a job: a few inherited variables, the interpreter's
    directory first on PATH, ``CI=true``, then ``extra`` (the job's ``env``)."""
    inherited = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "SHELL", "TZ")
    env = {name: os.environ[name] for name in inherited if name in os.environ}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
    return {**env, "CI": "true", "ANDON": "true", **(extra or {})}


def time_bare_commands(
    command: str, *, count: int, concurrency: int, cwd: Path, env: dict[str, str]
) -> ProcessBatch:
    """Run ``bash -eo pipefail -c command`` ``count`` times, ``concurrency`` at once, the way
    a job's command is started (own session, output piped, stdin closed), and time it."""

    async def batch() -> ProcessBatch:
        slots = asyncio.Semaphore(concurrency)
        bash = shutil.which("bash") or "/bin/bash"

        async def one() -> float:
            async with slots:
                started = time.perf_counter()
                process = await asyncio.create_subprocess_exec(
                    bash,
                    "-eo",
                    "pipefail",
                    "-c",
                    command,
                    cwd=cwd,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                )
                await process.communicate()
                if process.returncode != 0:
                    raise BenchmarkError(f"'{command}' exited {process.returncode}")
                return time.perf_counter() - started

        started = time.perf_counter()
        each = await asyncio.gather(*(one() for _ in range(count)))
        return ProcessBatch(time.perf_counter() - started, list(each))

    return asyncio.run(batch())


def time_shop_tests(shop: Path, *, shards: int) -> float:
    """Wall seconds of the shop's tests run directly in ``shop``, split into ``shards``
    processes run at once (1: one plain run).

    The environment is the unit job's (:func:`job_environment` with the job's ``env``), so
    that hypothesis runs derandomized under ``CI`` as in the pipeline, and with the shard
    variables its ``parallel`` sets, which the shop's conftest.py reads.
    """
    command = [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"]
    base = job_environment({"PYTHONDONTWRITEBYTECODE": "1"})
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            command,
            cwd=shop,
            env=base
            if shards == 1
            else {**base, "ANDON_SHARD_INDEX": str(index), "ANDON_SHARD_TOTAL": str(shards)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for index in range(shards)
    ]
    outputs = [process.communicate()[0] for process in processes]
    wall = time.perf_counter() - started
    for process, output in zip(processes, outputs, strict=True):
        if process.returncode != 0:
            tail = output.decode(errors="replace")[-2000:]
            raise BenchmarkError(
                f"the shop's tests failed directly (exit {process.returncode}):\n{tail}"
            )
    return wall
