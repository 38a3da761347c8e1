"""Analytics over REST: `GET /v1/metrics/summary|top|timeseries`, answering with the JSON
of `logctl metrics --format json`, and the client `logctl metrics --remote` uses."""

import time
from typing import Annotated, Any

from fastapi import FastAPI
from fastapi import Query as Param
from starlette.concurrency import run_in_threadpool

from logctl.auth import TokenBook
from logctl.errors import UsageError
from logctl.services.analytics import AnalyticsService, MetricsRequest
from logctl.services.promql import Evaluator
from logctl.transport.rest.app import create_app
from logctl.transport.rest.client import RestClient
from logctl.transport.rest.common import needs
from logctl.transport.rest.promapi import prometheus_router
from logctl.transport.rest.prometheus import LogMetricsCollector

Many = Annotated[list[str] | None, Param()]
Text = Annotated[str | None, Param(max_length=256)]


def endpoint_for(request: MetricsRequest) -> str:
    """Which endpoint answers a request: a step makes a time series, a grouping a top."""
    if request.step:
        return "timeseries"
    return "top" if request.by else "summary"


def request_params(request: MetricsRequest) -> dict[str, Any]:
    params = {"since": request.since, "until": request.until, "by": request.by,
              "step": request.step, "top": request.top, "source": list(request.sources),
              "host": list(request.hosts), "route": request.route,
              "status": list(request.statuses), "method": list(request.methods)}
    return {k: v for k, v in params.items() if v not in (None, [])}


def analytics_app(service: AnalyticsService, tokens: TokenBook,
                  export_log_metrics: bool = False) -> FastAPI:
    """The analytics REST app over an analytics service; every query needs `read`. It
    also answers the Prometheus query API (/api/v1/...), and with `export_log_metrics`
    exposes the stored log metrics on /metrics for a Prometheus server to scrape."""
    evaluator = Evaluator(service.store, service.max_cells)
    app = create_app("analytics", tokens, collectors=[LogMetricsCollector(evaluator.totals)]
                     if export_log_metrics else ())
    app.include_router(prometheus_router(evaluator))

    async def answer(request: MetricsRequest) -> dict[str, Any]:
        result = await run_in_threadpool(service.answer, request, time.time())
        return result.body

    @app.get("/v1/metrics/summary", summary="Totals, error rate and latency quantiles",
             dependencies=needs("read"))
    async def summary(since: Text = None, until: Text = None, source: Many = None,
                      host: Many = None, route: Text = None, status: Many = None,
                      method: Many = None) -> dict[str, Any]:
        return await answer(MetricsRequest(since, until, None, None, None, source or (),
                                           host or (), route, status or (), method or ()))

    @app.get("/v1/metrics/top", summary="Groups by a dimension, largest first",
             dependencies=needs("read"))
    async def top(by: Annotated[str, Param(max_length=32)], since: Text = None,
                  until: Text = None, top: Annotated[int | None, Param(ge=1)] = None,
                  source: Many = None, host: Many = None, route: Text = None,
                  status: Many = None, method: Many = None) -> dict[str, Any]:
        return await answer(MetricsRequest(since, until, by, None, top, source or (),
                                           host or (), route, status or (), method or ()))

    @app.get("/v1/metrics/timeseries", summary="Buckets over time, optionally grouped",
             dependencies=needs("read"))
    async def timeseries(step: Annotated[str, Param(max_length=16)], since: Text = None,
                         until: Text = None, by: Text = None,
                         top: Annotated[int | None, Param(ge=1)] = None, source: Many = None,
                         host: Many = None, route: Text = None, status: Many = None,
                         method: Many = None) -> dict[str, Any]:
        return await answer(MetricsRequest(since, until, by, step, top, source or (),
                                           host or (), route, status or (), method or ()))

    return app


class RestAnalyticsClient(RestClient):
    """Asks an analytics daemon; answers are the JSON contract."""

    peer = "analytics"

    def answer(self, request: MetricsRequest) -> dict[str, Any]:
        if request.by is None and request.top is not None and not request.step:
            raise UsageError("--top needs --by")
        return self.get(f"/v1/metrics/{endpoint_for(request)}", request_params(request))
