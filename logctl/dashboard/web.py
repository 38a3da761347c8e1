"""The web dashboard: one self-contained page (no CDN, charts drawn as inline SVG by its
own script) that polls the monitor's `/v1/dashboard` and redraws in place."""

from functools import cache
from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

PAGE = "index.html"


@cache
def page() -> str:
    """The dashboard page, read once from the package."""
    return resources.files("logctl.dashboard").joinpath("static", PAGE).read_text("utf-8")


def add_page(app: FastAPI) -> None:
    """Serve the dashboard page at `GET /`."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def get_page() -> HTMLResponse:
        return HTMLResponse(page())
