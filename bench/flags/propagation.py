"""Kill-switch propagation: how long after ``andon flags kill`` each of 200 connected SDK
clients serves the killed flag.

A real Andon server runs as its own process (``andon server``, SQLite, 127.0.0.1); 200
``FlagClient`` instances connect to it from 4 worker processes (50 each, so that the
clients do not all share one interpreter's lock), each on its own SSE stream. The
benchmark then kills and restores the flag ``rounds`` times through the API; for each
change, every client's ``on_change`` listener notes the wall-clock time at which it
serves the new version, and the propagation time is that minus the time the API call
was sent. Wall-clock times compare across processes of one machine.

    /work/venv/bin/python bench/flags/propagation.py [--clients 200] [--workers 4] [--rounds 10]

Prints a table and writes ``bench/flags/propagation.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "pipeline"))
from summaries import describe_machine, load_average  # noqa: E402

FLAG = {
    "variants": {"on": True, "off": False},
    "defaultVariant": "on",
    "targeting": {
        "if": [
            {"in": [{"var": "country"}, ["NL", "DE"]]},
            {"fractional": [["on", 50], ["off", 50]]},
            "off",
        ]
    },
}
FLAGS = "/api/v1/projects/shop/environments/prod/flags"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    """The control plane as its own process, its store holding project ``shop``."""
    from andon.settings import Settings  # noqa: PLC0415
    from andon.store import open_store  # noqa: PLC0415

    env = {**os.environ, "ANDON_HOME": str(home), "ANDON_POLL_INTERVAL": "3600"}
    with open_store(Settings.from_env(env).database_url) as store:
        store.projects.add(
            name="shop", source="/src/shop", subdir="", trunk="main", service="shop",
            commit="a" * 40, spec={"environments": {"prod": {}}},
        )  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "andon", "server", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(home / "server.err").open("wb"),
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit(f"the server did not start; see {home / 'server.err'}")


def worker(url: str, token: str, count: int, cache: str, pipe: Connection) -> None:
    """``count`` clients; reports (client, version, wall time) for every change served."""
    from andon.flags.client import FlagClient  # noqa: PLC0415

    clients = []
    for index in range(count):
        client = FlagClient(url, "prod", token, cache_dir=f"{cache}/{os.getpid()}-{index}")

        def noted(version: int, keys: object, index: int = index) -> None:
            pipe.send(("served", index, version, time.time()))

        client.on_change(noted)
        clients.append(client)
    for client in clients:
        client.wait_ready(30)
    pipe.send(("ready", os.getpid(), [c.version for c in clients], time.time()))
    pipe.recv()  # told to stop
    for client in clients:
        client.close(0.5)
    pipe.send(("closed", os.getpid(), None, time.time()))


def connect(
    url: str, token: str, per_worker: int, workers: int, cache: Path
) -> tuple[list[Connection], list[Any]]:
    """Start the workers; return once every client serves the flag set."""
    context = mp.get_context("spawn")
    pipes, processes = [], []
    for _ in range(workers):
        ours, theirs = context.Pipe()
        process = context.Process(target=worker, args=(url, token, per_worker, str(cache), theirs))
        process.start()
        pipes.append(ours)
        processes.append(process)
    started = time.monotonic()
    for pipe in pipes:
        while pipe.recv()[0] != "ready":
            pass
    print(
        f"{per_worker * workers} clients connected in {time.monotonic() - started:.1f} s",
        file=sys.stderr,
    )
    return pipes, processes


def one_change(
    api: httpx.Client, pipes: list[Connection], verb: str, clients: int
) -> dict[str, Any]:
    """Kill or restore the flag; how long each client took to serve the new version."""
    sent = time.time()
    changed = api.post(f"{FLAGS}/new-checkout/{verb}", json={"by": "bench", "reason": "bench"})
    changed.raise_for_status()
    answered = time.time() - sent
    version = changed.json()["version"]
    seen: dict[tuple[int, int], float] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(seen) < clients:
        for number, pipe in enumerate(pipes):
            while pipe.poll(0.01):
                kind, index, served, at = pipe.recv()
                if kind == "served" and served >= version:
                    seen.setdefault((number, index), at - sent)
    delays = list(seen.values())
    found = {
        "change": verb,
        "version": version,
        "clients": len(delays),
        "p50_ms": statistics.median(delays) * 1000,
        "p99_ms": percentile(delays, 0.99) * 1000,
        "max_ms": max(delays) * 1000,
        "api_ms": answered * 1000,
        "delays": delays,
    }
    print(
        f"{verb:<7} v{version}: {len(delays)} clients, p50 {found['p50_ms']:.1f} ms, p99 "
        f"{found['p99_ms']:.1f} ms, max {found['max_ms']:.1f} ms (the API answered in "
        f"{found['api_ms']:.1f} ms)",
        file=sys.stderr,
    )
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="andon-bench-propagation-"))
    port = free_port()
    server = start_server(home, port)
    url = f"http://127.0.0.1:{port}"
    admin = (home / "token").read_text("utf-8").strip()  # written by the first start
    api = httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {admin}"})
    try:
        api.put(f"{FLAGS}/new-checkout", json={"flag": FLAG, "by": "bench"}).raise_for_status()
        token = api.post(f"{FLAGS}/tokens", json={"name": "bench"}).json()["token"]
        per_worker = args.clients // args.workers
        pipes, processes = connect(url, token, per_worker, args.workers, home / "cache")
        streams = api.get(FLAGS).json()["convergence"]["streams"]
        delays: list[float] = []
        rounds = []
        for number in range(args.rounds):
            verb = "kill" if number % 2 == 0 else "restore"
            found = one_change(api, pipes, verb, per_worker * args.workers)
            delays += found.pop("delays")
            rounds.append(found)
            time.sleep(0.5)  # let the clients' reports settle before the next change
        for pipe in pipes:
            pipe.send("stop")
        for process in processes:
            process.join(10)
        result: dict[str, Any] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": describe_machine(),
            "load_average": load_average(),
            "clients": per_worker * args.workers,
            "workers": args.workers,
            "streams_seen_by_server": streams,
            "rounds": rounds,
            "p50_ms": statistics.median(delays) * 1000,
            "p90_ms": percentile(delays, 0.90) * 1000,
            "p99_ms": percentile(delays, 0.99) * 1000,
            "max_ms": max(delays) * 1000,
            "changes_seen": len(delays),
            "changes_expected": per_worker * args.workers * args.rounds,
        }
        (HERE / "propagation.json").write_text(json.dumps(result, indent=2) + "\n")
        print(
            f"\nkill switch to {result['clients']} SDK clients ({streams} streams open), "
            f"{args.rounds} changes, {len(delays)} of {result['changes_expected']} seen:\n"
            f"  p50 {result['p50_ms']:.1f} ms  p90 {result['p90_ms']:.1f} ms  "
            f"p99 {result['p99_ms']:.1f} ms  max {result['max_ms']:.1f} ms  (goal p99 ≤ 100 ms)"
        )
    finally:
        api.close()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)


if __name__ == "__main__":
    main()
