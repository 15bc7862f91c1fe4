"""Running job commands as real processes: how each way of ending is judged and worded,
output streamed into the log, and timeouts and cancels that stop every process the
command started."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from andon.pipeline import CommandOutcome, LogSink, reap_orphans, run_job_command
from andon.pipeline.running import _record_group
from andon.store import JobStatus

PYTHON = shlex.quote(sys.executable)
ENV = {"PATH": os.environ["PATH"]}


def run(
    command: str,
    workspace: Path,
    *,
    timeout: float = 20.0,
    env: dict[str, str] | None = None,
    secrets: tuple[str, ...] = (),
    kill_grace: float = 5.0,
) -> tuple[CommandOutcome, str]:
    outcome, log, _ = run_into_sink(
        command, workspace, timeout=timeout, env=env, secrets=secrets, kill_grace=kill_grace
    )
    return outcome, log


def run_into_sink(
    command: str,
    workspace: Path,
    *,
    timeout: float = 20.0,
    env: dict[str, str] | None = None,
    secrets: tuple[str, ...] = (),
    kill_grace: float = 5.0,
) -> tuple[CommandOutcome, str, LogSink]:
    log = workspace / "job.log"
    with LogSink(log, secrets=secrets) as sink:
        outcome = asyncio.run(
            run_job_command(
                command,
                cwd=workspace,
                env=ENV if env is None else env,
                timeout=timeout,
                sink=sink,
                kill_grace=kill_grace,
            )
        )
    return outcome, log.read_text("utf-8"), sink


def gone(pid: int, within: float = 15.0) -> bool:
    """Whether process ``pid`` has ended (a zombie waiting to be reaped has ended too)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] in {"Z", "X"}:
            return True
        time.sleep(0.02)
    return False


def test_a_command_that_exits_0_succeeds_and_its_output_is_logged(tmp_path: Path) -> None:
    outcome, log = run("echo out; echo err >&2", tmp_path)

    assert (outcome.status, outcome.exit_code, outcome.reason) == (
        JobStatus.SUCCESS,
        0,
        "exit code 0",
    )
    assert log == "out\nerr\n"
    assert 0 < outcome.duration < 5


def test_a_nonzero_exit_fails_with_its_code(tmp_path: Path) -> None:
    outcome, _ = run("exit 3", tmp_path)

    assert (outcome.status, outcome.exit_code, outcome.reason) == (
        JobStatus.FAILED,
        3,
        "exit code 3",
    )


def test_bash_stops_at_the_first_failure_and_pipes_fail_on_any_part(tmp_path: Path) -> None:
    stopped, log = run("false; echo after", tmp_path)
    piped, _ = run("false | cat", tmp_path)

    assert stopped.status is JobStatus.FAILED
    assert "after" not in log
    assert piped.exit_code == 1


def test_a_missing_command_says_so(tmp_path: Path) -> None:
    outcome, log = run("no-such-command-anywhere --help", tmp_path)

    assert outcome.status is JobStatus.FAILED
    assert outcome.reason == "command not found (exit 127)"
    assert "no-such-command-anywhere" in log


def test_an_empty_command_succeeds_at_once(tmp_path: Path) -> None:
    outcome, log = run("  ", tmp_path)

    assert (outcome.status, outcome.reason, log) == (JobStatus.SUCCESS, "nothing to run", "")


def test_a_missing_workspace_is_an_infrastructure_failure(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    with LogSink(log) as sink:
        outcome = asyncio.run(
            run_job_command(
                "true", cwd=tmp_path / "gone", env=ENV, timeout=5, sink=sink, kill_grace=1
            )
        )

    assert outcome.status is JobStatus.INFRA_FAILED
    assert outcome.exit_code is None
    assert outcome.reason.startswith("could not start: ")
    assert str(tmp_path / "gone") in outcome.reason


def test_the_environment_is_exactly_the_one_given(tmp_path: Path) -> None:
    _, log = run('echo "[$GREETING] [${HOME:-unset}]"', tmp_path, env={**ENV, "GREETING": "hi"})

    assert log == "[hi] [unset]\n"


def test_secrets_in_the_output_are_masked(tmp_path: Path) -> None:
    _, log = run(
        'echo "token=$TOKEN"', tmp_path, env={**ENV, "TOKEN": "hunter22"}, secrets=("hunter22",)
    )

    assert log == "token=***\n"


def test_output_that_is_not_utf8_is_logged_without_failing(tmp_path: Path) -> None:
    outcome, log = run(r"printf 'caf\351 \377\n'", tmp_path)

    assert outcome.status is JobStatus.SUCCESS
    assert log == "caf\ufffd \ufffd\n"


@pytest.mark.parametrize(
    ("exit_code", "status"), [(0, JobStatus.SUCCESS), (4, JobStatus.FAILED)], ids=["ok", "failing"]
)
def test_twenty_megabytes_of_output_are_capped_and_the_exit_code_still_judges(
    tmp_path: Path, exit_code: int, status: JobStatus
) -> None:
    write = "import sys; sys.stdout.write(('x' * 99 + '\\n') * 200_000)"
    outcome, log, sink = run_into_sink(f'{PYTHON} -c "{write}"; exit {exit_code}', tmp_path)

    assert outcome.status is status
    assert outcome.exit_code == exit_code
    assert 5 * 1024 * 1024 - 100 < len(log.encode()) < 5 * 1024 * 1024 + 200
    assert sink.bytes_written + sink.bytes_discarded >= 20_000_000
    assert log.endswith(
        "… log truncated after 5 MiB; the job keeps running and is judged by its exit code\n"
    )


def test_a_timeout_stops_the_command_and_the_processes_it_started(tmp_path: Path) -> None:
    started = time.monotonic()
    outcome, _ = run("sleep 60 & echo $! > child.pid; wait", tmp_path, timeout=0.5)

    assert outcome.status is JobStatus.FAILED
    assert outcome.reason == "timed out after 500ms and was stopped"
    assert time.monotonic() - started < 5
    assert gone(int((tmp_path / "child.pid").read_text()))


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    command = "(trap '' TERM; exec sleep 60) & echo $! > child.pid; wait"

    outcome, _ = run(command, tmp_path, timeout=0.3, kill_grace=0.3)

    assert outcome.status is JobStatus.FAILED
    assert outcome.duration < 3
    assert gone(int((tmp_path / "child.pid").read_text()))


def test_processes_left_behind_by_a_finished_command_are_stopped(tmp_path: Path) -> None:
    started = time.monotonic()
    outcome, log = run("sleep 60 & echo $! > child.pid; echo done", tmp_path)

    assert outcome.status is JobStatus.SUCCESS
    assert log == "done\n"
    assert time.monotonic() - started < 5
    assert gone(int((tmp_path / "child.pid").read_text()))


def test_being_killed_by_a_signal_is_an_infrastructure_failure(tmp_path: Path) -> None:
    outcome, _ = run("echo going; kill -9 $$", tmp_path)

    assert outcome.status is JobStatus.INFRA_FAILED
    assert outcome.exit_code == -9
    assert outcome.reason == "killed by signal 9 (SIGKILL) — the OS may have run out of memory"


def test_output_reaches_the_log_while_the_command_runs_and_cancel_stops_it(
    tmp_path: Path,
) -> None:
    log = tmp_path / "job.log"

    async def scenario() -> tuple[CommandOutcome, bool]:
        cancel = asyncio.Event()
        with LogSink(log) as sink:
            task = asyncio.create_task(
                run_job_command(
                    "echo first; sleep 30 & echo $! > child.pid; wait",
                    cwd=tmp_path,
                    env=ENV,
                    timeout=60,
                    sink=sink,
                    cancel=cancel,
                )
            )
            while "first" not in log.read_text():
                await asyncio.sleep(0.01)
            still_running = not task.done()
            cancel.set()
            return await asyncio.wait_for(task, 10), still_running

    outcome, streamed = asyncio.run(scenario())

    assert streamed, "the output reached the log only after the command ended"
    assert (outcome.status, outcome.reason) == (JobStatus.CANCELED, "canceled")
    assert outcome.duration < 5
    assert gone(int((tmp_path / "child.pid").read_text()))


def test_a_command_canceled_before_it_starts_never_runs(tmp_path: Path) -> None:
    async def scenario() -> CommandOutcome:
        cancel = asyncio.Event()
        cancel.set()
        with LogSink(tmp_path / "job.log") as sink:
            return await run_job_command(
                "touch ran", cwd=tmp_path, env=ENV, timeout=5, sink=sink, cancel=cancel
            )

    outcome = asyncio.run(scenario())

    assert outcome.status is JobStatus.CANCELED
    assert not (tmp_path / "ran").exists()


def test_cancelling_the_caller_leaves_no_process_behind(tmp_path: Path) -> None:
    async def scenario() -> None:
        with LogSink(tmp_path / "job.log") as sink:
            task = asyncio.create_task(
                run_job_command(
                    "sleep 30 & echo $! > child.pid; wait",
                    cwd=tmp_path,
                    env=ENV,
                    timeout=60,
                    sink=sink,
                )
            )
            while not (tmp_path / "child.pid").exists():
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(scenario())

    assert gone(int((tmp_path / "child.pid").read_text()))


def test_an_orphaned_job_recorded_in_its_pid_file_is_reaped(tmp_path: Path) -> None:
    pid_file = tmp_path / "job.pid"
    sink = LogSink(tmp_path / "job.log")
    orphan = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        _record_group(pid_file, orphan.pid)
        assert reap_orphans([pid_file]) == 1
        assert orphan.wait(timeout=5) == -signal.SIGKILL
        assert not pid_file.exists()
    finally:
        orphan.kill()
        orphan.wait()
        sink.close()


def test_a_pid_file_of_a_process_that_is_gone_reaps_nothing(tmp_path: Path) -> None:
    pid_file = tmp_path / "job.pid"
    done = subprocess.Popen(["true"])
    done.wait()
    pid_file.write_text(f"{done.pid} 12345\n")
    assert reap_orphans([pid_file]) == 0
    assert not pid_file.exists()
