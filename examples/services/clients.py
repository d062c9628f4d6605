"""HTTP clients for the four services (httpx's AsyncClient, which runs on trio) and the
orchestrator that watches them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import httpx

from trio_orch import DEFAULT_CLASSIFIER, ErrorKind, Service, ServiceOrchestrator

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

#: httpx's transport errors (connection refused, reset, a server that went away mid-request)
#: are worth retrying; HTTP statuses are classified by the default rules (5xx, 429
#: transient; other 4xx permanent) through ``ServiceCallError.status_code``.
CLASSIFIER = DEFAULT_CLASSIFIER.with_rule(httpx.TransportError, ErrorKind.TRANSIENT)


class ServiceCallError(Exception):
    """A service answered with an error status.

    Attributes:
        service: the service's name.
        status_code: the HTTP status (what the error classifier reads).
    """

    def __init__(self, service: str, method: str, path: str, status_code: int, detail: str) -> None:
        super().__init__(f"{method} {path} answered {status_code}: {detail}")
        self.service = service
        self.status_code = status_code


@attrs.define(eq=False)
class ServiceClient:
    """JSON over HTTP to one service."""

    name: str
    base_url: str
    http: httpx.AsyncClient

    async def request(
        self, method: str, path: str, json: Any = None, params: Mapping[str, str] | None = None
    ) -> Any:
        response = await self.http.request(
            method, self.base_url + path, json=json, params=dict(params or {})
        )
        if response.status_code >= 400:
            try:
                detail = response.json().get("error", response.text)
            except ValueError:
                detail = response.text
            raise ServiceCallError(self.name, method, path, response.status_code, detail)
        return response.json()

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, json: Any) -> Any:
        return await self.request("POST", path, json=json)

    async def delete(self, path: str) -> Any:
        return await self.request("DELETE", path)

    async def health(self) -> None:
        """The health check: ``GET /health`` answers 200."""
        await self.request("GET", "/health")


@attrs.define(eq=False)
class Clients:
    """One client per service, sharing one connection pool."""

    identity: ServiceClient
    communication: ServiceClient
    content: ServiceClient
    workflow: ServiceClient

    @classmethod
    def connect(cls, http: httpx.AsyncClient, urls: Mapping[str, str]) -> Clients:
        """Clients for the services at ``urls`` (``{name: base URL}``)."""
        return cls(**{name: ServiceClient(name, urls[name], http) for name in urls})

    def __iter__(self) -> Iterator[ServiceClient]:
        return iter((self.identity, self.communication, self.content, self.workflow))


def make_orchestrator(clients: Clients, **options: Any) -> ServiceOrchestrator:
    """A :class:`ServiceOrchestrator` with every service registered, health checks included."""
    orch = ServiceOrchestrator(classifier=CLASSIFIER, **options)
    for client in clients:
        orch.register(Service(client.name, health_check=client.health))
    return orch
