"""HTTP routes of the API, one module per domain, all under ``/api/v1``."""

__all__: list[str] = []
