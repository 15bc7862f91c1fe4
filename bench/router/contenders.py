"""The processes of the router benchmark, each on loopback: two tiny upstreams (one nginx
answering ``return 200`` on two ports, the same for every proxy) and the proxies under
test, nginx, HAProxy and the Andon router, all splitting 90/10 over them with
kept-alive upstream connections and the same number of workers."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


class BenchmarkError(Exception):
    """The benchmark cannot run here; the message says what is missing."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def need(program: str) -> str:
    found = shutil.which(program) or next(
        (str(Path(d) / program) for d in ("/usr/sbin", "/sbin") if (Path(d) / program).exists()),
        None,
    )
    if found is None:
        raise BenchmarkError(
            f"{program} is not installed; install it first: apt-get install -y nginx haproxy wrk"
        )
    return found


@dataclass
class Contender:
    """A process listening on ``port`` (or a group of them), stopped with SIGTERM."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _launch(name: str, command: list[str], port: int, workdir: Path) -> Contender:
    log = (workdir / f"{name}.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchmarkError(
                f"{name} exited at start: {(workdir / f'{name}.log').read_text()[-2000:]}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return Contender(name, port, process)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise BenchmarkError(f"{name} did not listen on port {port} within 20 s")


_NGINX_COMMON = """
daemon off;
pid {workdir}/{name}.pid;
error_log {workdir}/{name}.error.log warn;
events {{ worker_connections 8192; }}
"""
_NGINX_TEMP = """
  access_log off;
  client_body_temp_path {workdir}/{name}-body;
  proxy_temp_path {workdir}/{name}-proxy;
  fastcgi_temp_path {workdir}/{name}-fastcgi;
  uwsgi_temp_path {workdir}/{name}-uwsgi;
  scgi_temp_path {workdir}/{name}-scgi;
  keepalive_requests 10000000;
"""


def start_upstreams(workdir: Path) -> tuple[Contender, int, int]:
    """One nginx worker answering "v1" on one port and "v2" on another."""
    first, second = free_port(), free_port()
    name = "upstreams"
    config = (
        "worker_processes 1;\n"
        + _NGINX_COMMON.format(workdir=workdir, name=name)
        + "http {\n"
        + _NGINX_TEMP.format(workdir=workdir, name=name)
        + f'  server {{ listen 127.0.0.1:{first}; location / {{ return 200 "v1"; }} }}\n'
        + f'  server {{ listen 127.0.0.1:{second}; location / {{ return 200 "v2"; }} }}\n'
        + "}\n"
    )
    path = workdir / f"{name}.conf"
    path.write_text(config)
    upstreams = _launch(name, [need("nginx"), "-c", str(path)], first, workdir)
    return upstreams, first, second


def start_nginx(workdir: Path, upstreams: tuple[int, int], workers: int) -> Contender:
    port = free_port()
    name = "nginx"
    first, second = upstreams
    config = (
        f"worker_processes {workers};\n"
        + _NGINX_COMMON.format(workdir=workdir, name=name)
        + "http {\n"
        + _NGINX_TEMP.format(workdir=workdir, name=name)
        + "  upstream app {\n"
        + f"    server 127.0.0.1:{first} weight=9;\n"
        + f"    server 127.0.0.1:{second} weight=1;\n"
        + "    keepalive 256;\n"
        + "    keepalive_requests 10000000;\n"
        + "  }\n"
        + f"  server {{ listen 127.0.0.1:{port}; location / {{\n"
        + "    proxy_pass http://app; proxy_http_version 1.1;\n"
        + '    proxy_set_header Connection "";\n'
        + "  } }\n}\n"
    )
    path = workdir / f"{name}.conf"
    path.write_text(config)
    return _launch(name, [need("nginx"), "-c", str(path)], port, workdir)


def start_haproxy(workdir: Path, upstreams: tuple[int, int], workers: int) -> Contender:
    port = free_port()
    first, second = upstreams
    config = f"""
global
  nbthread {workers}
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
  http-reuse always
frontend bench
  bind 127.0.0.1:{port}
  default_backend app
backend app
  balance roundrobin
  server v1 127.0.0.1:{first} weight 9
  server v2 127.0.0.1:{second} weight 1
"""
    path = workdir / "haproxy.cfg"
    path.write_text(config)
    return _launch("haproxy", [need("haproxy"), "-f", str(path), "-db"], port, workdir)


_ANDON = """
import json, sys
from andon.agent.router import RouterConfig, serve
serve(RouterConfig.from_dict(json.loads(sys.argv[1])), "127.0.0.1", int(sys.argv[2]),
      workers=int(sys.argv[3]))
"""


def andon_config(upstreams: tuple[int, int]) -> dict[str, object]:
    """90/10 over the two upstreams, sticky by X-User-Id (client address otherwise)."""
    first, second = upstreams
    return {
        "env": "bench",
        "versions": [
            {"name": "v1", "instances": [{"host": "127.0.0.1", "port": first}], "weight": 90},
            {"name": "v2", "instances": [{"host": "127.0.0.1", "port": second}], "weight": 10},
        ],
        "sticky": {"header": "X-User-Id"},
    }


def start_andon(workdir: Path, upstreams: tuple[int, int], workers: int) -> Contender:
    port = free_port()
    command = [
        sys.executable,
        "-c",
        _ANDON,
        json.dumps(andon_config(upstreams)),
        str(port),
        str(workers),
    ]
    contender = _launch("andon", command, port, workdir)
    if workers > 1:
        # The supervisor answers once its workers listen; give the last a moment more.
        time.sleep(0.5)
    return contender
