"""Run the shop: ``python -m shop [--config PATH]``.

Environment:

- ``PORT`` (default 8080) and ``HOST`` (default 127.0.0.1): where to listen.
- ``SHOP_CONFIG``: config file, if ``--config`` is not given (see ``shop.config``).
- ``ANDON_VERSION`` (default "dev"): the release version reported by /healthz
  and the ``shop_build_info`` metric; the platform sets it on deploy.

Logs go to stderr, one line per request. The server does not migrate the
database; until ``python -m shop.migrate`` has run, /healthz answers 503.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence

from shop import config as shop_config
from shop.app import ShopApp
from shop.server import ShopHTTPServer, serve_until_signalled

logger = logging.getLogger("shop")


def listen_address(environ: Mapping[str, str]) -> tuple[str, int]:
    """HOST and PORT from the environment; ValueError with a clear message if bad."""
    host = environ.get("HOST", "127.0.0.1")
    raw_port = environ.get("PORT", "8080")
    try:
        port = int(raw_port)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ValueError(f"PORT must be a whole number from 0 to 65535, got {raw_port!r}")
    return host, port


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shop", description="Run the shop.")
    parser.add_argument("--config", metavar="PATH", help="config file (default: see README)")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = shop_config.load_or_exit(args.config)
    if not (args.config or os.environ.get(shop_config.CONFIG_ENV_VAR)) and not (
        shop_config.DEFAULT_CONFIG_PATH.exists()
    ):
        logger.info("no %s; using built-in defaults", shop_config.DEFAULT_CONFIG_PATH)
    try:
        host, port = listen_address(os.environ)
    except ValueError as exc:
        print(f"shop: error: {exc}", file=sys.stderr)
        return 2

    app = ShopApp(
        config,
        version=os.environ.get("ANDON_VERSION", "dev"),
        instance=os.environ.get("ANDON_INSTANCE", ""),
    )
    try:
        server = ShopHTTPServer((host, port), app)
    except OSError as exc:
        print(f"shop: error: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1

    logger.info(
        "%s %s listening on %s (database %s)",
        config.name,
        app.version,
        server.url,
        config.database_path,
    )
    injected = app.faults.describe()
    if injected:
        # Loud on purpose: a fault left switched on by accident must be obvious.
        logger.warning("fault injection active: %s", injected)
    serve_until_signalled(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
