"""Andon example shop: a small web shop built only on the Python standard library.

The package is the workload that the Andon platform builds, tests, packages,
deploys and watches. Each module holds one concept:

- ``config``   TOML configuration, including the fault-injection knobs
- ``db``       SQLite connections and transactions
- ``migrate``  numbered SQL migrations (``python -m shop.migrate``)
- ``seed``     reference catalog data (``python -m shop.seed``)
- ``store``    catalog, cart and order operations on the database
- ``errors``   errors that become HTTP error responses
- ``web``      request/response types, JSON bodies and the router
- ``metrics``  Prometheus text exposition, written and parsed by hand
- ``faults``   the deliberate defects the platform's immune system must catch
- ``pages``    the HTML catalog page for people
- ``app``      the HTTP routes, tying the above together
- ``server``   the threaded HTTP server and graceful shutdown
- ``client``   a tiny HTTP client used by the smoke test and the tests
- ``smoke``    the post-deploy smoke test (``python -m shop.smoke URL``)
- ``testing``  run a shop in-process on an ephemeral port, for tests

Run it with ``python -m shop``.
"""
