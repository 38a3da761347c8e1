"""Every REST service's health: request figures of the last minute, the process's CPU and
memory, and a router serving `GET /v1/health` (in full with a token) and `GET /metrics`
(the same figures for Prometheus)."""

import functools
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import psutil
from fastapi import APIRouter, Request, Response
from prometheus_client.registry import Collector

from logctl import __version__
from logctl.auth import TokenBook
from logctl.metrics.ranks import rank
from logctl.transport.rest.common import Credentials, request_token, require
from logctl.transport.rest.prometheus import CONTENT_TYPE, exposition, registry_for

WINDOW_SECONDS = 60.0
HEALTH, METRICS = "/v1/health", "/metrics"  # the router's paths
Figures = Callable[[], dict[str, Any]]


class RequestStats:
    """Requests of the last minute, for req/s, error rate and latency in the health page."""

    def __init__(self) -> None:
        self.started = time.time()
        self.recent: deque[tuple[float, bool, float]] = deque(maxlen=200_000)
        self.total = 0

    def record(self, failed: bool, ms: float) -> None:
        self.total += 1
        self.recent.append((time.monotonic(), failed, ms))

    def snapshot(self) -> dict[str, Any]:
        cutoff = time.monotonic() - WINDOW_SECONDS
        while self.recent and self.recent[0][0] < cutoff:
            self.recent.popleft()
        window = list(self.recent)
        times = sorted(ms for _, _, ms in window)
        span = min(WINDOW_SECONDS, max(time.time() - self.started, 1.0))
        return {
            "requests_total": self.total,
            "requests_per_s": round(len(window) / span, 3),
            "error_rate": round(sum(f for _, f, _ in window) / len(window), 4) if window else 0.0,
            "latency_ms": {"p50": rank(times, 0.5), "p95": rank(times, 0.95)},
        }


@functools.cache
def _process(pid: int) -> psutil.Process:
    """One Process object per pid: psutil's CPU percent is measured between two calls on
    the same object (a fresh one always says 0.0)."""
    return psutil.Process(pid)


def process_figures() -> dict[str, Any]:
    """CPU, memory and descriptors of this process (psutil)."""
    proc = _process(os.getpid())
    with proc.oneshot():
        return {"cpu_percent": proc.cpu_percent(interval=None),
                "rss_bytes": proc.memory_info().rss, "open_fds": proc.num_fds(),
                "pid": os.getpid()}


def judge(status: str, reason: str, breakers: dict[str, str]) -> tuple[str, str]:
    """The service's state and why: an open breaker to a peer degrades an ok service
    (`breakers` maps a peer to closed/open/half_open; circuit breakers fill it in)."""
    opened = sorted(peer for peer, state in breakers.items() if state == "open")
    if status == "ok" and opened:
        return "degraded", f"circuit open to {', '.join(opened)}"
    return status, reason or ("" if status == "ok" else status)


def health_router(service: str, tokens: TokenBook, stats: RequestStats,
                  health: Figures | None = None,
                  collectors: Iterable[Collector] = ()) -> APIRouter:
    """`/v1/health` and `/metrics` of one service. `health` adds the service's own figures
    (queue depth, store size...) and may set `status`, `reason` and `breakers`; without a
    valid token, health says only the service and its state. `/metrics` needs a `read`
    token unless `app.state.metrics_open`; `collectors` add to what it exposes."""
    router = APIRouter()

    def health_body() -> dict[str, Any]:
        extra = health() if health else {}
        breakers = extra.pop("breakers", {})
        status, reason = judge(extra.pop("status", "ok"), extra.pop("reason", ""), breakers)
        return {"service": service, "status": status, "reason": reason,
                "version": __version__, "uptime_s": round(time.time() - stats.started, 3),
                **stats.snapshot(), **process_figures(), "queue_depth": 0,
                "breakers": breakers, **extra}

    registry = registry_for(service, health_body, collectors)
    read = require("read")

    @router.get(HEALTH, summary="Service state and figures (in full with a token)")
    def get_health(request: Request) -> dict[str, Any]:
        body = health_body()
        if tokens.role_of(request_token(request)) is None:
            return {"service": service, "status": body["status"]}
        return body

    @router.get(METRICS, summary="The health figures in Prometheus text format",
                responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    def get_metrics(request: Request, credentials: Credentials) -> Response:
        if not request.app.state.metrics_open:
            read(request, credentials)
        return Response(exposition(registry), media_type=CONTENT_TYPE)

    return router
