"""Per-request bounds every REST service keeps, as one middleware: requests one client may
have open at once (429 with Retry-After beyond), and how long a request may take (503
beyond). Each app names the routes exempt from the time bound (a streamed upload is
bounded by its size instead) and those never refused for a busy client (health: the
monitor polls from the same host as local clients, and a service must not look down
because one of them is using all its places)."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from fastapi import Request, Response

from logctl.transport.rest.common import error_response
from logctl.transport.rest.health import RequestStats

Next = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Limits:
    """The bounds (the daemon sets `app.state.limits` from its settings)."""

    per_client: int = 32
    timeout: float = 300.0


class RequestLimiter:
    """The `http` middleware: counts each client's open requests, bounds each request's
    time, and records every answer in the app's request statistics."""

    def __init__(self, stats: RequestStats, untimed: Iterable[tuple[str, str]] = (),
                 unlimited: Iterable[str] = ()) -> None:
        self.stats = stats
        self.untimed = frozenset(untimed)  # (method, path) pairs exempt from the timeout
        self.unlimited = frozenset(unlimited)  # paths that take none of a client's places
        self.open: dict[str, int] = {}

    async def __call__(self, request: Request, call_next: Next) -> Response:
        bounds: Limits = request.app.state.limits
        client = request.client.host if request.client else "-"
        limited = request.url.path not in self.unlimited
        if limited and self.open.get(client, 0) >= bounds.per_client:
            response = error_response(429, f"more than {bounds.per_client} requests at once "
                                           "from one client")
            response.headers["Retry-After"] = "1"
            return response
        started = time.perf_counter()
        with self._place(client) if limited else nullcontext():
            response = await self._within(bounds.timeout, request, call_next)
        self.stats.record(response.status_code >= 500, (time.perf_counter() - started) * 1000)
        return response

    @contextmanager
    def _place(self, client: str) -> Iterator[None]:
        """One of the client's places, held while its request runs."""
        self.open[client] = self.open.get(client, 0) + 1
        try:
            yield
        finally:
            self.open[client] -= 1
            if not self.open[client]:
                del self.open[client]

    async def _within(self, timeout: float, request: Request, call_next: Next) -> Response:
        """The response, or 503 once `timeout` passes (untimed routes are left alone)."""
        if (request.method, request.url.path) in self.untimed:
            return await call_next(request)
        try:
            return await asyncio.wait_for(call_next(request), timeout)
        except TimeoutError:
            return error_response(503, f"the request took longer than {timeout:g}s")
