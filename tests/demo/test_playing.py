"""The demo from start to end, its steps replaced by stand-ins: a failing step stops it
with the step, the cause and the logs (kept); Ctrl-C stops it and removes its home; a
finished demo cleans up, unless asked to keep it all running."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

from andon.demo import DemoError, DemoOptions, StepFailedError, play, playing
from andon.demo.api import RefusedError


class FakeAndon:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.url = "http://127.0.0.1:7400"
        self.settings = SimpleNamespace(token_file=home / "token")
        (home / "token").write_text("andon_t0ken\n")
        self.stopped = self.removed = 0

    def stop(self) -> None:
        self.stopped += 1

    def remove(self) -> None:
        self.removed += 1


class FakeApi:
    def get(self, path: str) -> Any:
        raise RefusedError(404, "there is no such route")

    def close(self) -> None:
        pass


@pytest.fixture
def andon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeAndon:
    fake = FakeAndon(tmp_path)
    story = SimpleNamespace(
        shoppers=None, closers=[], api=FakeApi(), approver=FakeApi(), prod_url="http://prod"
    )
    monkeypatch.setattr(playing.PrivateAndon, "create", lambda: fake)
    monkeypatch.setattr(playing, "Payments", lambda: SimpleNamespace(stop=lambda: None))
    monkeypatch.setattr(playing, "set_up", lambda *args: story)
    monkeypatch.setattr(playing, "AHEAD", {})
    return fake


def steps(monkeypatch: pytest.MonkeyPatch, *acts: Any) -> None:
    titles = ("One", "Two", "Three")
    monkeypatch.setattr(playing, "STEPS", tuple(zip(titles, acts, strict=False)))


def fine(story: Any) -> None:
    pass


def run(options: DemoOptions | None = None) -> tuple[Any, str]:
    out = io.StringIO()
    result = play(options or DemoOptions(), Console(file=out, width=100))
    return result, out.getvalue()


def test_a_failing_step_stops_everything_and_keeps_the_logs(
    andon: FakeAndon, monkeypatch: pytest.MonkeyPatch
) -> None:
    def canary_went_through(story: Any) -> None:
        raise DemoError("the immune system did not roll the defect back")

    steps(monkeypatch, fine, canary_went_through)
    with pytest.raises(StepFailedError) as failed:
        run()
    assert failed.value.message.startswith(
        "the demo stopped at step 2/8 (Two): the immune system did not roll the defect back; "
        f"the logs are kept in {andon.home}"
    )
    assert (andon.stopped, andon.removed) == (1, 0)


def test_an_unexpected_os_error_is_a_failed_step_too(
    andon: FakeAndon, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(story: Any) -> None:
        raise OSError(28, "No space left on device")

    steps(monkeypatch, disk_full)
    with pytest.raises(StepFailedError, match=r"step 1/8 \(One\): OSError: .*No space left"):
        run()


def test_ctrl_c_stops_everything_and_removes_the_home(
    andon: FakeAndon, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(story: Any) -> None:
        raise KeyboardInterrupt

    steps(monkeypatch, fine, interrupted)
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        play(DemoOptions(), Console(file=out, width=100))
    assert (andon.stopped, andon.removed) == (1, 1)
    assert out.getvalue().endswith(
        "Interrupted: everything the demo started is stopped and gone.\n"
    )


def test_a_finished_demo_sums_up_and_cleans_up(
    andon: FakeAndon, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps(monkeypatch, fine, fine)
    result, out = run()
    assert [step.number for step in result.steps] == [0, 1, 2, 8]
    assert "The value stream, end to end, in" in out
    assert "DORA metrics: not available from this server (there is no such route)" in out
    assert result.kept == {} and (andon.stopped, andon.removed) == (1, 1)


def test_keep_leaves_it_running_and_says_how_to_reach_it(
    andon: FakeAndon, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps(monkeypatch, fine)
    result, _ = run(DemoOptions(keep=True))
    assert result.kept == {
        "dashboard": "http://127.0.0.1:7400/",
        "token": "andon_t0ken",
        "home": str(andon.home),
        "prod": "http://prod",
    }
    assert (andon.stopped, andon.removed) == (0, 0)
    assert result.to_dict()["kept"]["dashboard"] == "http://127.0.0.1:7400/"
