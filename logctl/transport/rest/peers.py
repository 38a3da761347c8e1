"""The monitor's peers over HTTP: health polls, analytics asked from the event loop, and
the alert webhook's POSTs. Each turns httpx's outcomes into the service's own terms
(a Probe, a PeerError, a Delivery), so the monitor never sees a transport."""

import logging
from typing import Any

import httpx

from logctl.errors import PeerError
from logctl.services.analytics import MetricsRequest
from logctl.services.contracts import Delivery, Probe
from logctl.transport.rest.analytics import endpoint_for, request_params

log = logging.getLogger("logctl.monitor")
WEBHOOK_TIMEOUT_S = 5.0


def describe(exc: Exception) -> str:
    """A failed call in a few words: timeouts and refusals say so plainly."""
    if isinstance(exc, httpx.TimeoutException):
        return "no answer (timed out)"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class RestHealthProbe:
    """`GET /v1/health` of each service, with the client's token (the full body)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def probe(self, url: str, timeout: float) -> Probe:
        try:
            response = await self.client.get(f"{url}/v1/health", timeout=timeout)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            return Probe(False, {}, describe(exc))
        if response.status_code == 200 and isinstance(body, dict):
            return Probe(True, body)
        return Probe(False, {}, f"HTTP {response.status_code}")


class RestTrafficSource:
    """Analytics' REST API asked asynchronously, on the same endpoints and parameters as
    RestAnalyticsClient."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client = client
        self.url = url.rstrip("/")

    async def answer(self, request: MetricsRequest, timeout: float) -> dict[str, Any]:
        try:
            response = await self.client.get(f"{self.url}/v1/metrics/{endpoint_for(request)}",
                                             params=request_params(request), timeout=timeout)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise PeerError(f"analytics at {self.url}: {describe(exc)}", retryable=True) from None


class RestAlertSender:
    """The webhook: one JSON POST per alert change, with a client of its own (the
    monitor's token never goes to a third party)."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client = client
        self.url = url

    async def deliver(self, payload: dict[str, Any]) -> Delivery:
        try:
            response = await self.client.post(self.url, json=payload, timeout=WEBHOOK_TIMEOUT_S)
        except httpx.HTTPError as exc:
            log.warning("alert webhook %s: %s", self.url, describe(exc))
            return "retry"
        if response.status_code < 300:
            return "sent"
        if 400 <= response.status_code < 500 and response.status_code != 429:
            return "refused"
        return "retry"
