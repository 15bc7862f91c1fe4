"""The private Andon: its own home and URL for everything it runs, none of the user's
ANDON_* settings, and what it started killed at the end even when nothing recorded it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from andon.demo import DemoError
from andon.demo.stack import PrivateAndon, _kill_strays, check_prerequisites


def test_the_private_andon_never_passes_on_the_users_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANDON_HOME", "/home/me/.andon")
    monkeypatch.setenv("ANDON_DATABASE_URL", "postgresql://me@db/andon")
    monkeypatch.setenv("ANDON_TOKEN", "andon_mine")
    andon = PrivateAndon(tmp_path, 7400, 7401)
    settings = {k: v for k, v in andon.env.items() if k.startswith("ANDON_")}
    assert andon.env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert settings == {
        "ANDON_HOME": str(tmp_path),
        "ANDON_URL": "http://127.0.0.1:7400",
        "ANDON_POLL_INTERVAL": "0.2",
    }
    assert andon.settings.token_file == tmp_path / "token"


def test_processes_working_in_the_home_or_started_for_it_are_killed(tmp_path: Path) -> None:
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    working = subprocess.Popen(sleep, cwd=tmp_path)
    started = subprocess.Popen(sleep, env={"ANDON_HOME": str(tmp_path)})
    elsewhere = subprocess.Popen(sleep, env={"ANDON_HOME": f"{tmp_path}-other"})
    try:
        _kill_strays(tmp_path)
        assert working.wait(5) == -9 and started.wait(5) == -9
        assert elsewhere.poll() is None
    finally:
        for process in (working, started, elsewhere):
            process.kill()
            process.wait()


def test_a_machine_without_the_shops_test_tools_is_told_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    check_prerequisites()
    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "hypothesis" else found(name)
    )
    with pytest.raises(DemoError) as missing:
        check_prerequisites()
    assert missing.value.message == (
        f"the example shop's tests need hypothesis, which {sys.executable} does not have; "
        "install them with: pip install -e '.[test]'"
    )
