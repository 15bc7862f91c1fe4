"""Load from wrk and what it reports: requests per second, the 99th percentile latency,
and the errors it saw; the machine the figures were taken on."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}

# Each request carries one of many user ids, so the Andon router's sticky split is
# exercised (hashing a fresh key each time) and lands 90/10 like the others' weights.
_LUA = """
local requests = {}
local count = 0
init = function(args)
  for i = 1, 1000 do
    requests[i] = wrk.format(nil, "/", {["X-User-Id"] = "user-" .. i})
  end
end
request = function()
  count = count % 1000 + 1
  return requests[count]
end
"""


@dataclass(frozen=True)
class Load:
    requests_per_second: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    load: float = 0.0
    """The machine's 1-minute load average just after the run: other work skews a sample."""


def write_script(workdir: Path) -> Path:
    path = workdir / "users.lua"
    path.write_text(_LUA)
    return path


def run_wrk(port: int, *, duration: int, connections: int, script: Path) -> Load:
    """``wrk -t1 -c<connections> -d<duration>s --latency`` against loopback ``port``."""
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}/",
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    load = parse_wrk(output)
    return Load(**{**load.__dict__, "load": round(os.getloadavg()[0], 2)})


def parse_wrk(output: str) -> Load:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    if rate is None or p99 is None:
        raise ValueError(f"cannot read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return Load(
        requests_per_second=float(rate.group(1)),
        p99_ms=float(p99.group(1)) * _UNITS[p99.group(2)],
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(value) for value in errors.groups()) if errors else 0,
    )


def describe_machine() -> dict[str, object]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_before": [round(value, 2) for value in os.getloadavg()],
        "versions": {
            "nginx": _version(["nginx", "-v"]),
            "haproxy": _version(["haproxy", "-v"]).split(" - ")[0],
            "wrk": _version(["wrk", "-v"]).split(" [")[0],
        },
    }


def _version(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return "absent"
    text = (result.stdout or result.stderr).strip().splitlines()
    return text[0] if text else "unknown"
