"""A REST service's app, composed of the parts every service shares: JSON errors, the
request limiter, and the health router. Each service's module adds its own routes."""

from collections.abc import Iterable

from fastapi import FastAPI
from prometheus_client.registry import Collector

from logctl import __version__
from logctl.auth import TokenBook
from logctl.transport.rest.common import ERROR_RESPONSES, install_error_handlers
from logctl.transport.rest.health import HEALTH, METRICS, Figures, RequestStats, health_router
from logctl.transport.rest.limits import Limits, RequestLimiter


def create_app(service: str, tokens: TokenBook, health: Figures | None = None,
               untimed: Iterable[tuple[str, str]] = (),
               collectors: Iterable[Collector] = ()) -> FastAPI:
    """A FastAPI app for one service. `health` adds the service's figures to its health;
    `untimed` names (method, path) routes exempt from the request timeout; `collectors`
    add to `/metrics`. The daemon
    sets `app.state.limits` and `app.state.metrics_open` from its settings."""
    app = FastAPI(title=f"logctl {service}", version=__version__,
                  description=f"The logctl {service} service (REST, /v1). Every endpoint "
                              "but /v1/health needs a bearer token (`logctl token create`).",
                  responses=ERROR_RESPONSES)
    stats = RequestStats()
    app.state.stats = stats
    app.state.tokens = tokens
    app.state.limits = Limits()
    app.state.metrics_open = False
    install_error_handlers(app)
    app.middleware("http")(RequestLimiter(stats, untimed, unlimited=(HEALTH, METRICS)))
    app.include_router(health_router(service, tokens, stats, health, collectors))
    return app
