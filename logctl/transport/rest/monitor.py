"""The monitor over REST: every service's latest state (`GET /v1/services`), the alerts
(`GET /v1/alerts`), the dashboards' data (`GET /v1/dashboard`) and the web dashboard
itself (`GET /`)."""

from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from logctl.auth import TokenBook
from logctl.dashboard.web import page
from logctl.services.monitor import Monitor
from logctl.transport.rest.app import create_app
from logctl.transport.rest.client import RestClient
from logctl.transport.rest.common import needs


def monitor_app(monitor: Monitor, tokens: TokenBook) -> FastAPI:
    """The monitor REST app over a running monitor. The page at `/` holds no data: it
    asks `/v1/dashboard` with the `read` token given in its address (`/#token=…`)."""
    app = create_app("monitor", tokens, lambda: {"polls": monitor.polls,
                                         "alerts_firing": len(monitor.alerts.firing)})

    @app.get("/v1/services", summary="Every polled service's latest state",
             dependencies=needs("read"))
    def get_services() -> dict[str, Any]:
        return {"services": monitor.services(), "interval_s": monitor.interval}

    @app.get("/v1/alerts", summary="Firing alerts, then the last resolved ones",
             dependencies=needs("read"))
    def get_alerts() -> dict[str, Any]:
        return {"alerts": monitor.alerts.listing()}

    @app.get("/v1/dashboard", summary="What `logctl status` and the web dashboard show",
             dependencies=needs("read"))
    def get_dashboard() -> dict[str, Any]:
        return monitor.snapshot()

    add_page(app)
    return app


class RestMonitorClient(RestClient):
    """Asks a monitor daemon for the dashboard data."""

    peer = "monitor"

    def dashboard(self) -> dict[str, Any]:
        return self.get("/v1/dashboard")


def add_page(app: FastAPI) -> None:
    """Serve the dashboard page at `GET /`."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def get_page() -> HTMLResponse:
        return HTMLResponse(page())
