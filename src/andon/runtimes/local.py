"""The local runtime: instances run as processes supervised by the Andon agent on a host,
driven through the agent's admin API over HTTP (``/v1/...``, a bearer token). The agent's
error bodies come back as the matching Andon errors; an agent that does not answer is a
:class:`~andon.errors.ServerUnreachableError` (a temporary error).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from andon.errors import (
    AndonError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    ServerUnreachableError,
    TemporaryError,
    UsageError,
)
from andon.runtimes.protocol import InstanceSpec, InstanceStatus
from andon.settings import Settings

DEFAULT_AGENT_URL = "http://127.0.0.1:8701"
"""Where ``andon agent`` listens unless given ``--admin-port``."""
TOKEN_FILE_NAME = "agent-token"

_ERRORS: dict[str, type[AndonError]] = {
    "not_found": NotFoundError,
    "conflict": ConflictError,
    "bad_request": UsageError,
    "unavailable": TemporaryError,
}


def agent_state_dir(settings: Settings) -> Path:
    """The state directory of the agent that ``andon agent`` runs by default."""
    return settings.agent_dir


def agent_address(settings: Settings) -> tuple[str, Path]:
    """The URL and token file of this host's agent: as ``andon start`` recorded them in
    ``ANDON_HOME/agent.json``, else those of ``andon agent`` run with its defaults."""
    try:
        recorded = json.loads(settings.agent_file.read_text("utf-8"))
        return str(recorded["url"]), Path(recorded["state"]) / TOKEN_FILE_NAME
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_AGENT_URL, agent_state_dir(settings) / TOKEN_FILE_NAME


class LocalRuntime:
    """A client of one agent's admin API, implementing :class:`~andon.runtimes.Runtime`.

    ``token`` is the agent's token, or a path to its token file, read at the first call
    (so the runtime can be made before the agent has first started).
    """

    kind = "local"

    def __init__(
        self,
        url: str,
        token: str | Path,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._http = httpx.AsyncClient(
            base_url=f"{self.url}/v1", timeout=timeout, transport=transport, trust_env=False
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalRuntime:
        """The runtime of this host's agent (see :func:`agent_address`)."""
        url, token = agent_address(settings)
        return cls(url, token)

    async def ensure_environment(
        self, environment: str, *, listen_port: int | None, routing: Mapping[str, Any]
    ) -> None:
        """Create or update the environment on the agent."""
        body = {"listen_port": listen_port, "routing": dict(routing)}
        await self._call("PUT", f"/environments/{_segment(environment)}", json=body)

    async def set_routing(self, environment: str, routing: Mapping[str, Any]) -> None:
        """Replace the environment's routing."""
        path = f"/environments/{_segment(environment)}/routing"
        await self._call("PUT", path, json={"routing": dict(routing)})

    async def remove_environment(self, environment: str) -> None:
        """Stop the environment's instances and remove it (waits for the stops)."""
        path = f"/environments/{_segment(environment)}"
        await self._call("DELETE", path, timeout=httpx.Timeout(10.0, read=None))

    async def start_instance(self, spec: InstanceSpec) -> InstanceStatus:
        """Start an instance; it is ``starting`` until its health check passes."""
        path = f"/environments/{_segment(spec.environment)}/instances"
        return InstanceStatus.from_dict(await self._call("POST", path, json=spec.to_dict()))

    async def stop_instance(self, instance_id: str) -> InstanceStatus:
        """Drain and stop an instance (waits for its drain and stop timeout)."""
        path = f"/instances/{_segment(instance_id)}"
        data = await self._call("DELETE", path, timeout=httpx.Timeout(10.0, read=None))
        return InstanceStatus.from_dict(data)

    async def instances(self, environment: str) -> list[InstanceStatus]:
        """The environment's instances."""
        data = await self._call("GET", f"/environments/{_segment(environment)}/instances")
        return [InstanceStatus.from_dict(item) for item in data["instances"]]

    async def instance(self, instance_id: str) -> InstanceStatus:
        """One instance."""
        return InstanceStatus.from_dict(
            await self._call("GET", f"/instances/{_segment(instance_id)}")
        )

    async def logs(self, instance_id: str, *, tail: int = 100) -> str:
        """The last ``tail`` lines of the instance's log."""
        path = f"/instances/{_segment(instance_id)}/logs"
        response = await self._request("GET", path, params={"tail": tail})
        return response.text

    async def traffic(self, environment: str) -> dict[str, Any]:
        """The router's counters of the environment, from the agent."""
        data: dict[str, Any] = await self._call(
            "GET", f"/environments/{_segment(environment)}/traffic"
        )
        return data

    async def health(self) -> dict[str, Any]:
        """The agent's health document."""
        data: dict[str, Any] = await self._call("GET", "/health")
        return data

    async def verify_environment(
        self, environment: str, *, listen_port: int | None, routing: Mapping[str, Any]
    ) -> bool | None:
        """True when the agent has the environment with this port and routing."""
        try:
            data = await self._call("GET", f"/environments/{_segment(environment)}")
        except NotFoundError:
            return False
        except AndonError:
            return None
        return bool(data["listen_port"] == listen_port and data["routing"] == dict(routing))

    async def verify_instance(self, instance_id: str) -> bool | None:
        """True when the instance is ready and not draining."""
        try:
            status = await self.instance(instance_id)
        except NotFoundError:
            return False
        except AndonError:
            return None
        return status.serving

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self._request(method, path, **kwargs)).json()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._bearer()}"}
        try:
            response = await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ServerUnreachableError(
                f"no Andon agent answers at {self.url} ({type(exc).__name__}); start it "
                "with 'andon agent' on that host."
            ) from exc
        if response.is_success:
            return response
        if response.status_code == 401:
            raise ConfigurationError(
                f"the agent at {self.url} refused the token; use the one in its state "
                "directory's agent-token file."
            )
        code, message = _error_of(response)
        raise _ERRORS.get(code, AndonError)(message)

    def _bearer(self) -> str:
        if isinstance(self._token, str):
            return self._token
        try:
            token = self._token.read_text("utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the agent's token {self._token}: {exc.strerror}; start the "
                "agent ('andon agent') to create it."
            ) from exc
        self._token = token
        return token


def _segment(name: str) -> str:
    return quote(name, safe="")


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """The code and message of an error body, or words for a body that is not one."""
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return "error", f"the agent answered {response.status_code} without an error body."
