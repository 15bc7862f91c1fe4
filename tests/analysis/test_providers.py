"""The metric providers against real local parts: HTTP servers on 127.0.0.1 standing in for
the instances' /metrics, Prometheus and a webhook; real ``sh -c`` commands; the fake
runtime for the router's snapshot and the list of instances. No network beyond loopback."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from andon.analysis import Answer, Observed
from andon.analysis.providers import (
    AppProvider,
    CommandProvider,
    FakeProvider,
    PrometheusProvider,
    RouterProvider,
    Subject,
    WebhookProvider,
    observe,
    providers_for,
)
from andon.errors import TemporaryError
from andon.runtimes import FakeRuntime, InstanceSpec
from andon.spec import AnalysisSpec, MetricSpec, load_spec

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop" / "andon.yaml"
SUBJECT = Subject(run=3, canary="v2", stable="v1")


@dataclass
class Reply:
    status: int = 200
    body: str = ""
    delay: float = 0.0
    content_type: str = "application/json"


@dataclass
class Server:
    """A local HTTP server answering with ``reply(method, path, query, body)``."""

    reply: Callable[[str, str, dict[str, list[str]], bytes], Reply]
    requests: list[tuple[str, str, dict[str, list[str]], bytes]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    started: list[ThreadingHTTPServer] = []

    def start(reply: Callable[..., Reply]) -> Server:
        server = Server(reply)

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                query = parse_qs(parts.query)
                server.requests.append((self.command, parts.path, query, body))
                answer = server.reply(self.command, parts.path, query, body)
                time.sleep(answer.delay)
                data = answer.body.encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", answer.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting, as a test meant it to

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        http.daemon_threads = True
        server.port = http.server_address[1]
        threading.Thread(target=http.serve_forever, args=(0.05,), daemon=True).start()
        started.append(http)
        return server

    yield start
    for http in started:
        http.shutdown()
        http.server_close()


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


# The router.


def test_the_router_provider_reads_the_runtimes_snapshot() -> None:
    runtime = FakeRuntime()
    snapshot = {"env": "prod", "versions": {"v2": {"requests": {"2xx": 10}}}}

    async def main() -> Observed:
        await runtime.ensure_environment("prod", listen_port=8080, routing={})
        runtime.count_traffic("prod", snapshot)
        return await observe([RouterProvider(runtime, "prod")], SUBJECT)

    assert run(main()) == Observed(snapshot=snapshot)


def test_an_unreachable_runtime_makes_the_router_unreachable_with_its_reason() -> None:
    runtime = FakeRuntime()
    runtime.reachable = False

    observed = run(observe([RouterProvider(runtime, "prod")], SUBJECT))

    assert observed.snapshot is None
    assert observed.missing("router") == observed.unreachable["router"]
    assert observed.unreachable["router"].endswith(".")


# The instances' counters.


def metrics_text(orders: float) -> str:
    return (
        "# HELP shop_orders_total Orders stored by checkout.\n"
        "# TYPE shop_orders_total counter\n"
        f"shop_orders_total {orders}\n"
        'shop_http_requests_total{method="GET",route="/",status="200"} 7\n'
    )


def instances_serving(runtime: FakeRuntime, ports: dict[str, list[int]]) -> None:
    async def main() -> None:
        await runtime.ensure_environment("prod", listen_port=8080, routing={})
        for version, listed in ports.items():
            for port in listed:
                await runtime.start_instance(
                    InstanceSpec("prod", version, "web", "python -m shop", Path("/"), port=port)
                )

    run(main())


def test_the_app_provider_sums_each_versions_counters_over_its_serving_instances(
    serve: Callable[..., Server],
) -> None:
    orders = {"a": 10.0, "b": 5.0, "c": 40.0, "old": 999.0}
    servers = {
        name: serve(
            lambda *_, n=name: Reply(body=metrics_text(orders[n]), content_type="text/plain")
        )
        for name in orders
    }
    runtime = FakeRuntime()
    instances_serving(
        runtime,
        {
            "v2": [servers["a"].port, servers["b"].port],
            "v1": [servers["c"].port],
            "v0": [servers["old"].port],
        },
    )

    provider = AppProvider(runtime, "prod", {"shop_orders_total"})
    observed = run(observe([provider], SUBJECT))

    assert observed.counters == {
        "v2": {"shop_orders_total": 15.0},
        "v1": {"shop_orders_total": 40.0},
    }
    assert servers["old"].requests == []  # not a version of the run
    assert [request[1] for request in servers["a"].requests] == ["/metrics"]


def test_an_instance_that_cannot_be_scraped_makes_the_whole_look_unreachable(
    serve: Callable[..., Server],
) -> None:
    good = serve(lambda *_: Reply(body=metrics_text(3), content_type="text/plain"))
    broken = serve(lambda *_: Reply(status=500, body="boom"))
    runtime = FakeRuntime()
    instances_serving(runtime, {"v2": [good.port, broken.port]})

    observed = run(observe([AppProvider(runtime, "prod", {"shop_orders_total"})], SUBJECT))

    assert observed.counters is None
    assert observed.unreachable == {
        "app": f"instance prod-web-2 of v2 answered 500 at http://127.0.0.1:{broken.port}"
        "/metrics; its counters are unknown for this look."
    }


def test_an_instance_that_does_not_listen_is_reported_with_its_address() -> None:
    runtime = FakeRuntime()
    instances_serving(runtime, {"v2": [1]})

    observed = run(observe([AppProvider(runtime, "prod", {"shop_orders_total"})], SUBJECT))

    assert observed.unreachable["app"].startswith(
        "cannot read the counters of instance prod-web-1 of v2 at http://127.0.0.1:1/metrics:"
    )


# Prometheus.


def prometheus_reply(result: list[dict[str, Any]] | Any, kind: str = "vector") -> Reply:
    return Reply(
        body=json.dumps({"status": "success", "data": {"resultType": kind, "result": result}})
    )


def test_prometheus_is_asked_for_a_counter_summed_by_version(serve: Callable[..., Server]) -> None:
    prometheus = serve(
        lambda *_: prometheus_reply(
            [
                {"metric": {"version": "v2"}, "value": [1700000000, "120"]},
                {"metric": {"version": "v1"}, "value": [1700000000, "1300.5"]},
            ]
        )
    )
    spec = MetricSpec.model_validate(
        {
            "name": "orders",
            "provider": "prometheus",
            "query": "rate(shop_orders_total[1m])",
            "baseline": {"max_decrease": "30%"},
        }
    )

    provider = PrometheusProvider.for_metric(spec, prometheus.url + "/")
    observed = run(observe([provider], SUBJECT))

    assert observed.queried == {"orders": {"v2": 120.0, "v1": 1300.5}}
    [(method, path, query, _)] = prometheus.requests
    assert (method, path, query) == (
        "GET",
        "/api/v1/query",
        {"query": ["sum by (version) (shop_orders_total)"]},
    )


def test_a_promql_expression_is_asked_as_written_and_a_scalar_is_a_value(
    serve: Callable[..., Server],
) -> None:
    prometheus = serve(lambda *_: prometheus_reply([1700000000, "0.42"], kind="scalar"))
    provider = PrometheusProvider("slo", "scalar(slo:burn_rate:1h)", prometheus.url)

    observed = run(observe([provider], SUBJECT))

    assert observed.queried == {"slo": {"": 0.42}}
    assert prometheus.requests[0][2] == {"query": ["scalar(slo:burn_rate:1h)"]}


def test_a_counter_without_a_version_label_cannot_be_split_and_is_unreachable(
    serve: Callable[..., Server],
) -> None:
    prometheus = serve(lambda *_: prometheus_reply([{"metric": {}, "value": [1, "5"]}]))
    provider = PrometheusProvider("orders", "sum by (version) (x_total)", prometheus.url, True)

    observed = run(observe([provider], SUBJECT))

    assert observed.unreachable == {
        "prometheus:orders": "Prometheus' answer to sum by (version) (x_total) has no version "
        "label, so the canary cannot be told from the stable version; label the instances' "
        "series with their version."
    }


def test_a_query_prometheus_refuses_is_unreachable_with_prometheus_error(
    serve: Callable[..., Server],
) -> None:
    error = {"status": "error", "errorType": "bad_data", "error": "parse error at char 5"}
    prometheus = serve(lambda *_: Reply(status=400, body=json.dumps(error)))

    observed = run(observe([PrometheusProvider("slo", "sum((", prometheus.url)], SUBJECT))

    assert observed.unreachable == {
        "prometheus:slo": "Prometheus refused the query sum(( with status 400: "
        "parse error at char 5."
    }


def test_without_a_prometheus_server_the_metric_says_how_to_name_one() -> None:
    observed = run(observe([PrometheusProvider("slo", "up", None)], SUBJECT))

    assert observed.unreachable == {
        "prometheus:slo": "metric 'slo' has no Prometheus server to ask; give it a url in "
        "andon.yaml or set ANDON_PROMETHEUS_URL."
    }


# Webhooks.


def test_a_webhook_is_posted_the_run_and_its_answer_is_the_verdict(
    serve: Callable[..., Server],
) -> None:
    hook = serve(lambda *_: Reply(body=json.dumps({"pass": False, "message": "refunds up 4x"})))

    observed = run(observe([WebhookProvider("refunds", hook.url + "/verdict")], SUBJECT))

    assert observed.answers == {"refunds": Answer(False, "refunds up 4x")}
    [(method, path, _, body)] = hook.requests
    assert (method, path) == ("POST", "/verdict")
    assert json.loads(body) == {"canary": "v2", "stable": "v1", "metric": "refunds", "run": 3}


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (
            Reply(status=503, body="{}"),
            "the webhook {url} answered 503; it must answer 2xx with "
            '{{"pass": true|false, "message": "..."}}.',
        ),
        (
            Reply(body='{"pass": "yes"}'),
            "the webhook {url} answered without a boolean 'pass'; it must answer "
            '{{"pass": true|false, "message": "..."}}.',
        ),
        (Reply(body='{"pass": true}', delay=1.0), "the webhook {url} did not answer within 0.2 s."),
    ],
    ids=["error-status", "no-boolean", "too-slow"],
)
def test_a_webhook_without_a_clear_answer_is_unreachable_never_a_pass(
    serve: Callable[..., Server], reply: Reply, reason: str
) -> None:
    hook = serve(lambda *_: reply)
    provider = WebhookProvider("refunds", hook.url, timeout=0.2)

    observed = run(observe([provider], SUBJECT))

    assert observed.answers == {}
    assert observed.unreachable == {"webhook:refunds": reason.format(url=hook.url)}


# Commands.


def command(text: str, timeout: float = 10.0) -> Observed:
    return run(observe([CommandProvider("synthetic", text, timeout=timeout)], SUBJECT))


def test_a_command_that_exits_0_passes_and_sees_the_versions_it_judges() -> None:
    observed = command(
        'test "$ANDON_CANARY/$ANDON_STABLE/$ANDON_METRIC/$ANDON_RUN" = v2/v1/synthetic/3 '
        '&& echo "checkout works"'
    )

    assert observed.answers == {"synthetic": Answer(True, "checkout works")}


def test_a_command_sees_none_of_andons_own_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANDON_SECRET_KEY", "not-for-commands")

    observed = command('test -z "$ANDON_SECRET_KEY" && test -n "$PATH" && echo clean')

    assert observed.answers == {"synthetic": Answer(True, "clean")}


def test_a_command_that_exits_otherwise_fails_with_its_last_line() -> None:
    observed = command('echo "checking"; echo "orders down 40%" >&2; exit 3')

    assert observed.answers == {"synthetic": Answer(False, "exited with 3: orders down 40%")}


def test_a_command_that_cannot_run_is_unreachable_not_a_failed_canary() -> None:
    observed = command("./no-such-check")

    assert observed.answers == {}
    assert observed.unreachable["command:synthetic"].startswith(
        "the command of metric 'synthetic' could not run (exit status 127): "
    )


def test_a_command_past_its_timeout_is_stopped_with_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"

    started = time.monotonic()
    observed = command(f"sleep 30 & echo $! > {pid_file}; wait", timeout=0.5)

    assert time.monotonic() - started < 5
    assert observed.unreachable == {
        "command:synthetic": "the command of metric 'synthetic' did not finish within 0.5 s "
        "and was stopped."
    }
    child = int(pid_file.read_text())
    for _ in range(50):
        if not _alive(child):
            break
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waiting for its parent to read its status is dead for this purpose.
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ")[-1].startswith("Z"))


# Asking them together.


def test_observe_asks_every_provider_at_once_and_turns_failures_into_reasons() -> None:
    snapshot = {"versions": {}}
    providers = [
        FakeProvider("router", [Observed(snapshot=snapshot)]),
        FakeProvider("app", [TemporaryError("instance 3 of v2 refused the connection.")]),
        FakeProvider("webhook:refunds", [Observed(answers={"refunds": Answer(True)})]),
        FakeProvider("prometheus:slo", [ValueError("no JSON")]),
    ]

    observed = run(observe(providers, SUBJECT))

    assert observed == Observed(
        snapshot=snapshot,
        answers={"refunds": Answer(True)},
        unreachable={
            "app": "instance 3 of v2 refused the connection.",
            "prometheus:slo": "prometheus:slo failed unexpectedly: ValueError: no JSON.",
        },
    )
    assert all(provider.asked == [SUBJECT] for provider in providers)


def test_observe_asks_slow_sources_concurrently() -> None:
    class Slow:
        source = "router"

        async def observe(self, subject: Subject) -> Observed:
            await asyncio.sleep(0.3)
            return Observed(snapshot={})

    started = time.monotonic()
    run(observe([Slow(), Slow(), Slow()], SUBJECT))

    assert time.monotonic() - started < 0.8


def test_the_shop_example_needs_the_router_and_its_instances_counters() -> None:
    analysis = load_spec(SHOP).release.analysis

    providers = providers_for(analysis.metrics, runtime=FakeRuntime(), environment="prod")

    assert [type(provider).__name__ for provider in providers] == ["RouterProvider", "AppProvider"]
    app = providers[1]
    assert isinstance(app, AppProvider) and list(app.counters) == ["shop_orders_total"]


def test_each_prometheus_webhook_and_command_metric_gets_its_own_provider() -> None:
    analysis = AnalysisSpec.model_validate(
        {
            "metrics": [
                {
                    "name": "slo",
                    "provider": "prometheus",
                    "query": "scalar(up)",
                    "threshold": {"max": 1},
                },
                {"name": "hook", "provider": "webhook", "url": "http://h/v", "timeout": "3s"},
                {"name": "check", "provider": "command", "command": "true"},
            ]
        }
    )

    providers = providers_for(
        analysis.metrics,
        runtime=FakeRuntime(),
        environment="prod",
        environ={"ANDON_PROMETHEUS_URL": "http://prometheus:9090"},
    )
    starting = providers_for(
        analysis.metrics, runtime=FakeRuntime(), environment="prod", starting=True
    )

    assert [provider.source for provider in providers] == [
        "prometheus:slo",
        "webhook:hook",
        "command:check",
    ]
    prometheus, hook, check = providers
    assert isinstance(prometheus, PrometheusProvider) and prometheus.url == "http://prometheus:9090"
    assert isinstance(hook, WebhookProvider) and hook.timeout == 3.0
    assert isinstance(check, CommandProvider) and check.timeout == 30.0
    assert starting == []  # an expression, a webhook and a command have nothing to start from
