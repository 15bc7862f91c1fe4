"""The shop's HTTP routes.

:class:`ShopApp` turns a :class:`~shop.web.Request` into a
:class:`~shop.web.Response`. It knows nothing about sockets (``shop.server``
does that), which keeps every route testable in-process.

Around every request :meth:`ShopApp.handle` does the cross-cutting work in one
place: routing, fault latency, mapping errors to JSON, and metrics. Keeping it
in one place means no route can forget to be measured.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict

from shop import db, migrate, pages, store
from shop.config import Config
from shop.errors import InjectedFaultError, MethodNotAllowedError, NotFoundError, ShopError
from shop.faults import FaultInjector
from shop.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from shop.metrics import ShopMetrics
from shop.web import (
    Match,
    Request,
    Response,
    Router,
    error_response,
    json_response,
    require_int,
    require_str,
)

logger = logging.getLogger(__name__)

# Route label for requests that match no route. Using a constant instead of the
# raw path keeps a scan of random URLs from creating unbounded time series.
UNMATCHED_ROUTE = "unmatched"


class ShopApp:
    def __init__(
        self,
        config: Config,
        version: str = "dev",
        faults: FaultInjector | None = None,
        migrations: Sequence[migrate.Migration] | None = None,
        instance: str = "",
    ) -> None:
        self.config = config
        self.version = version
        # Named in every answer, so that a client behind a load balancer knows which
        # process answered (the smoke test reads that one's counters).
        self.instance = instance
        self.faults = faults or FaultInjector(config.faults)
        self.metrics = ShopMetrics(version)
        # The schema version this release needs. Migrations ship with the code,
        # so they are read once at start-up, not on every health check.
        known = migrate.discover() if migrations is None else migrations
        self.required_schema = max((m.version for m in known), default=0)
        self.router = Router()
        for method, template, handler in (
            ("GET", "/", self.index),
            ("GET", "/products", self.list_products),
            ("GET", "/products/{sku}", self.get_product),
            ("POST", "/carts", self.create_cart),
            ("GET", "/carts/{cart_id}", self.get_cart),
            ("POST", "/carts/{cart_id}/items", self.add_item),
            ("POST", "/checkout", self.checkout),
            ("GET", "/orders/{order_id}", self.get_order),
            ("GET", "/healthz", self.healthz),
            ("GET", "/metrics", self.get_metrics),
        ):
            self.router.add(method, template, handler)

    # -- the request pipeline ------------------------------------------------

    def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        self.metrics.in_flight.add(1)
        match = self.router.match(request.method, request.path)
        route = match.route or UNMATCHED_ROUTE
        try:
            self.faults.delay(request.path)
            response = self._dispatch(request, match)
        finally:
            self.metrics.in_flight.add(-1)
        elapsed = time.perf_counter() - started
        self.metrics.requests.inc(method=request.method, route=route, status=str(response.status))
        self.metrics.duration.observe(elapsed, route=route)
        if route == "/checkout" and request.method == "POST" and response.status != 201:
            self.metrics.checkout_failures.inc()
        if self.instance:
            response.headers.setdefault("X-Shop-Instance", self.instance)
        return response

    def _dispatch(self, request: Request, match: Match) -> Response:
        try:
            if match.route is None:
                raise NotFoundError(f"No route matches {request.method} {request.path}.")
            if match.handler is None:
                raise MethodNotAllowedError(
                    f"{request.method} is not allowed on {match.route}; "
                    f"use {', '.join(match.allowed)}.",
                    match.allowed,
                )
            return match.handler(request, match.params)
        except ShopError as exc:
            headers = (
                {"Allow": ", ".join(exc.allowed)} if isinstance(exc, MethodNotAllowedError) else {}
            )
            return error_response(exc.status, exc.message, headers)
        except Exception:
            # A bug: log the traceback for people, tell the client nothing internal.
            logger.exception("unhandled error in %s %s", request.method, request.path)
            return error_response(500, "Internal server error.")

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with db.connection(self.config.database_path) as conn:
            yield conn

    # -- routes ----------------------------------------------------------------

    def index(self, request: Request, params: Mapping[str, str]) -> Response:
        with self._connection() as conn:
            products = store.list_products(conn)
        html = pages.catalog_page(self.config.name, self.version, products)
        return Response(200, html.encode("utf-8"), "text/html; charset=utf-8")

    def list_products(self, request: Request, params: Mapping[str, str]) -> Response:
        with self._connection() as conn:
            products = store.list_products(conn)
        return json_response(200, {"products": [asdict(p) for p in products]})

    def get_product(self, request: Request, params: Mapping[str, str]) -> Response:
        with self._connection() as conn:
            product = store.get_product(conn, params["sku"])
        return json_response(200, asdict(product))

    def create_cart(self, request: Request, params: Mapping[str, str]) -> Response:
        # The body, if any, is ignored: a new cart starts empty.
        with self._connection() as conn, db.transaction(conn):
            cart = store.create_cart(conn)
        return json_response(201, asdict(cart), {"Location": f"/carts/{cart.id}"})

    def get_cart(self, request: Request, params: Mapping[str, str]) -> Response:
        with self._connection() as conn:
            cart = store.get_cart(conn, params["cart_id"])
        return json_response(200, asdict(cart))

    def add_item(self, request: Request, params: Mapping[str, str]) -> Response:
        body = request.json_object()
        sku = require_str(body, "sku")
        quantity = require_int(body, "quantity", 1, store.MAX_LINE_QUANTITY)
        with self._connection() as conn, db.transaction(conn):
            cart = store.add_item(conn, params["cart_id"], sku, quantity)
        return json_response(200, asdict(cart))

    def checkout(self, request: Request, params: Mapping[str, str]) -> Response:
        body = request.json_object()
        cart_id = require_str(body, "cart_id")
        if self.faults.checkout_should_fail():
            logger.warning("failing checkout of cart %s on purpose (checkout_error_rate)", cart_id)
            raise InjectedFaultError("Checkout failed because of an injected fault.")
        dropped = self.faults.order_should_drop()
        with self._connection() as conn, db.transaction(conn) as tx:
            order = store.place_order(conn, cart_id)
            if dropped:
                # The injected defect (drop_orders, order_drop_rate): answer
                # exactly as if the order were stored, but never commit it.
                tx.discard()
        if not dropped:
            self.metrics.orders.inc()
        return json_response(
            201,
            {"order_id": order.id, "total_cents": order.total_cents},
            {"Location": f"/orders/{order.id}"},
        )

    def get_order(self, request: Request, params: Mapping[str, str]) -> Response:
        with self._connection() as conn:
            order = store.get_order(conn, params["order_id"])
        return json_response(200, asdict(order))

    def healthz(self, request: Request, params: Mapping[str, str]) -> Response:
        """Ready only when the database answers and its schema is new enough.

        A schema *ahead* of this release is fine: migrations are backwards
        compatible, and during a rollback the old release runs on the new schema.
        """
        try:
            with self._connection() as conn:
                conn.execute("SELECT 1").fetchone()
                schema = migrate.current_version(conn)
        except sqlite3.Error as exc:
            return self._unhealthy(f"The database is unavailable: {exc}.")
        if schema < self.required_schema:
            return self._unhealthy(
                f"The database schema is at version {schema} but this release needs "
                f"{self.required_schema}; run `python -m shop.migrate`."
            )
        return json_response(200, {"status": "ok", "version": self.version})

    def _unhealthy(self, reason: str) -> Response:
        logger.warning("unhealthy: %s", reason)
        return json_response(
            503, {"status": "unavailable", "version": self.version, "error": reason}
        )

    def get_metrics(self, request: Request, params: Mapping[str, str]) -> Response:
        return Response(200, self.metrics.render().encode("utf-8"), METRICS_CONTENT_TYPE)
