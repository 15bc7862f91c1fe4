"""End to end: the real ``andon`` command starts, reports on and stops a real server
process, and registers a real git repository through it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def andon(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "andon", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
        check=False,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *, code: int) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_start_register_list_status_stop(shop_monorepo: Path, port: int, andon_home: Path) -> None:
    started = andon("start", "--port", str(port))
    assert started.returncode == 0, started.stderr
    url = f"http://127.0.0.1:{port}"
    assert url in started.stdout
    try:
        again = andon("start", "--port", str(port))
        assert again.returncode == 0 and "already running" in again.stdout

        added = andon("project", "add", str(shop_monorepo), "--dir", "examples/shop")
        assert added.returncode == 0, added.stderr
        assert "Registered project shop" in added.stdout
        refreshed = andon("project", "add", str(shop_monorepo), "--dir", "examples/shop")
        assert refreshed.returncode == 0 and "Refreshed project shop" in refreshed.stdout

        listed = andon("project", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        (project,) = json.loads(listed.stdout)
        assert project["name"] == "shop" and project["dir"] == "examples/shop"
        assert project["source"] == str(shop_monorepo)

        status = andon("status", "--json")
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["running"] is True and report["url"] == url
        assert report["database"] == "sqlite"
        assert (andon_home / "andon.db").is_file()
        # The agent runs beside the server, recorded where the server finds it.
        agent = json.loads((andon_home / "agent.json").read_text())
        assert report["agent"]["running"] is True and report["agent"]["url"] == agent["url"]
        assert f"Its agent is running at {agent['url']}" in started.stdout
        assert (andon_home / "agent" / "agent-token").is_file()
    finally:
        stopped = andon("stop")
    assert stopped.returncode == 0 and "Stopped Andon" in stopped.stdout
    assert "Stopped its agent" in stopped.stdout
    after = andon("status", "--json")
    assert after.returncode == 1 and json.loads(after.stdout)["running"] is False
    assert json.loads(after.stdout)["agent"]["running"] is False
    assert not (andon_home / "server.json").exists() and not (andon_home / "agent.json").exists()


def test_start_refuses_a_port_in_use_in_one_line(port: int) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = andon("start", "--port", str(port))
    line = assert_one_line_error(result, code=2)
    assert f"port {port}" in line


def test_a_client_command_without_a_server_says_how_to_start_one(port: int) -> None:
    result = andon("project", "list", "--url", f"http://127.0.0.1:{port}")
    line = assert_one_line_error(result, code=2)
    assert f"no Andon server answers at http://127.0.0.1:{port}" in line
    assert "andon start" in line


def test_the_server_names_an_unreachable_database_without_its_password(port: int) -> None:
    dead = free_tcp_port_distinct_from(port)
    env_url = f"postgresql+psycopg://andon:s3cret-pw@127.0.0.1:{dead}/andon"
    os.environ["ANDON_DATABASE_URL"] = env_url
    try:
        result = andon("server", "--port", str(port))
    finally:
        del os.environ["ANDON_DATABASE_URL"]
    line = assert_one_line_error(result, code=2)
    assert f"127.0.0.1:{dead}" in line
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_start_reports_why_the_server_did_not_come_up(port: int, andon_home: Path) -> None:
    dead = free_tcp_port_distinct_from(port)
    os.environ["ANDON_DATABASE_URL"] = f"postgresql+psycopg://root:pw@127.0.0.1:{dead}/x"
    try:
        result = andon("start", "--port", str(port))
    finally:
        del os.environ["ANDON_DATABASE_URL"]
    line = assert_one_line_error(result, code=1)
    assert f"127.0.0.1:{dead}" in line and "log:" in line
    assert "pw@" not in line
    # The agent it started beside the server is stopped too, and forgotten.
    assert not (andon_home / "agent.json").exists()
    assert "Its agent is not running" in andon("status").stdout


def test_registering_an_invalid_spec_prints_located_problems(
    tmp_path: Path, port: int, repo_factory
) -> None:
    repo = repo_factory(
        tmp_path / "svc",
        {"andon.yaml": "service: {name: svc}\nprocesses: {web: {command: x}}\n"},
    )
    assert andon("start", "--port", str(port)).returncode == 0
    try:
        result = andon("project", "add", str(repo))
    finally:
        andon("stop")
    assert result.returncode == 1
    assert "andon.yaml:1:1: missing required key 'environments'" in result.stderr
    assert "Traceback" not in result.stderr


def free_tcp_port_distinct_from(port: int) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            candidate = int(sock.getsockname()[1])
        if candidate != port:
            return candidate
