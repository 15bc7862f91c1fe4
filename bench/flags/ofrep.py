"""OFREP evaluations per second against a running Andon server.

The control plane runs as its own process (``andon server``, SQLite, 127.0.0.1, one
uvicorn worker) with the benchmark's flag (``contenders.FLAGD_DOCUMENT``'s
``new-checkout``: on for 50% of users where country is NL or DE) and a client token.
``wrk`` then POSTs single evaluations (``/ofrep/v1/evaluate/flags/new-checkout``) for
200,000 distinct users, 64 connections, 3 rounds of 10 s, interleaved with the anchor:
``GET /api/v1/health`` through the same server (what a request costs with no evaluation).
A sample of answers is checked against ``FlagSet.resolve_boolean`` user by user.

    /work/venv/bin/python bench/flags/ofrep.py [--rounds 3] [--seconds 10] [--connections 64]

Needs ``wrk`` (``apt-get install -y wrk``). Prints a table; writes ``bench/flags/ofrep.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
from propagation import FLAG, FLAGS, free_port, start_server

from andon.flags import FlagSet

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "pipeline"))
from summaries import describe_machine, load_average  # noqa: E402

USERS = 200_000
LUA = """
local token = "%s"
local i = 0
request = function()
  i = (i + 1) %% %d
  local country = (i %% 5 < 2) and "NL" or "FR"
  local body = '{"context":{"targetingKey":"user-' .. i .. '","country":"' .. country .. '"}}'
  return wrk.format("POST", "/ofrep/v1/evaluate/flags/new-checkout",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
"""


def run_wrk(url: str, seconds: int, connections: int, script: Path | None) -> dict[str, float]:
    """Requests per second, p50 and p99 latency (ms) and non-2xx answers of one wrk run."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": rate,
        "p50_ms": _latency(out, "50%"),
        "p99_ms": _latency(out, "99%"),
        "non_2xx": float(bad.group(1)) if bad else 0.0,
    }


def _latency(out: str, label: str) -> float:
    value, unit = re.search(rf"{re.escape(label)}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def check_answers(url: str, token: str) -> int:
    """Answers for 500 users, each compared with the evaluator; how many agreed."""
    flags = FlagSet.from_document({"flags": {"new-checkout": FLAG}})
    agreed = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        for i in range(500):
            context = {"targetingKey": f"user-{i}", "country": "NL" if i % 5 < 2 else "FR"}
            answer = client.post(
                "/ofrep/v1/evaluate/flags/new-checkout", json={"context": context}
            ).json()
            expected = flags.resolve_boolean("new-checkout", False, context)
            agreed += answer["value"] is expected.value and answer["variant"] == expected.variant
    return agreed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed; apt-get install -y wrk")
    home = Path(tempfile.mkdtemp(prefix="andon-bench-ofrep-"))
    port = free_port()
    server = start_server(home, port)
    url = f"http://127.0.0.1:{port}"
    try:
        admin = (home / "token").read_text("utf-8").strip()  # written by the first start
        signed = {"Authorization": f"Bearer {admin}"}
        with httpx.Client(base_url=url, timeout=30, headers=signed) as api:
            api.put(f"{FLAGS}/new-checkout", json={"flag": FLAG, "by": "bench"}).raise_for_status()
            token = api.post(f"{FLAGS}/tokens", json={"name": "bench"}).json()["token"]
        agreed = check_answers(url, token)
        script = home / "ofrep.lua"
        script.write_text(LUA % (token, USERS))
        runs: dict[str, list[dict[str, float]]] = {"ofrep": [], "health": []}
        for number in range(args.rounds):
            for name in ("ofrep", "health") if number % 2 == 0 else ("health", "ofrep"):
                target = url if name == "ofrep" else f"{url}/api/v1/health"
                found = run_wrk(
                    target, args.seconds, args.connections, script if name == "ofrep" else None
                )
                runs[name].append(found)
                print(
                    f"round {number + 1} {name:<6} {found['rps']:8.0f} req/s  p50 "
                    f"{found['p50_ms']:.1f} ms  p99 {found['p99_ms']:.1f} ms  non-2xx "
                    f"{found['non_2xx']:.0f}",
                    file=sys.stderr,
                )
        summary = {
            name: {
                key: statistics.median(run[key] for run in found)
                for key in ("rps", "p50_ms", "p99_ms", "non_2xx")
            }
            for name, found in runs.items()
        }
        result = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": describe_machine(),
            "load_average": load_average(),
            "connections": args.connections,
            "seconds": args.seconds,
            "rounds": runs,
            "median": summary,
            "answers_checked": 500,
            "answers_agreeing": agreed,
        }
        (HERE / "ofrep.json").write_text(json.dumps(result, indent=2) + "\n")
        print(
            f"\nOFREP single evaluations: {summary['ofrep']['rps']:.0f} req/s, p50 "
            f"{summary['ofrep']['p50_ms']:.1f} ms, p99 {summary['ofrep']['p99_ms']:.1f} ms, "
            f"non-2xx {summary['ofrep']['non_2xx']:.0f}; anchor /api/v1/health "
            f"{summary['health']['rps']:.0f} req/s; {agreed} of 500 answers agree with the "
            "evaluator"
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)


if __name__ == "__main__":
    main()
