"""The agent's state file: a whole file or the previous one, never half of one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from andon.agent import AgentState, EnvironmentState, InstanceRecord, InstanceSpec, StateFile
from andon.errors import ConfigurationError


def a_state() -> AgentState:
    spec = InstanceSpec(
        environment="test",
        version="1.2.3",
        process="web",
        command="python -m shop",
        cwd=Path("/srv/shop/1.2.3"),
        env={"SHOP_CONFIG": "config/shop.toml"},
        health_path="/healthz",
        stop_timeout=5.0,
    )
    instance = InstanceRecord(id="test-web-1", spec=spec, port=41000, pid=1234, start_ticks="5678")
    routing = {"routes": [{"version": "1.2.3", "weight": 100}]}
    return AgentState(
        environments={"test": EnvironmentState("test", 8080, routing)},
        instances={instance.id: instance},
    )


def test_the_state_reads_back_as_it_was_written(tmp_path: Path) -> None:
    file = StateFile(tmp_path / "agent-state.json")
    state = a_state()
    file.save(state)
    loaded = file.load()
    assert loaded.environments == state.environments
    assert loaded.instances == state.instances


def test_no_file_is_an_empty_state(tmp_path: Path) -> None:
    assert StateFile(tmp_path / "agent-state.json").load() == AgentState()


def test_saving_writes_a_temporary_file_syncs_it_then_renames_it_over_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "agent-state.json"
    file = StateFile(path)
    file.save(AgentState())
    events: list[tuple[str, Any]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(source: str, target: str) -> None:
        events.append(("replace", (Path(source).name, Path(target).name)))
        # The old file is whole until the rename: the new text is only in the temporary.
        assert json.loads(path.read_text())["environments"] == []
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    file.save(a_state())
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync", "replace", "fsync"]
    temporary, target = events[1][1]
    assert temporary.startswith(".agent-state.json.") and temporary.endswith(".partial")
    assert target == "agent-state.json"
    assert events[0][1].endswith(temporary)
    assert events[2][1] == str(tmp_path)
    assert json.loads(path.read_text())["environments"][0]["name"] == "test"


def test_a_failed_save_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "agent-state.json"
    file = StateFile(path)
    file.save(a_state())
    before = path.read_bytes()
    broken = a_state()
    broken.environments["test"].routing = {"not json": object()}
    with pytest.raises(TypeError):
        file.save(broken)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["agent-state.json"]


def test_an_unreadable_file_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "agent-state.json"
    path.write_text("{ half a file")
    with pytest.raises(ConfigurationError, match="move it aside"):
        StateFile(path).load()
