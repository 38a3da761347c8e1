"""The web dashboard: one self-contained page (no CDN, charts drawn as inline SVG by its
own script) that polls the monitor's `/v1/dashboard` and redraws in place. The monitor's
REST app serves it at `/`."""

from functools import cache
from importlib import resources

PAGE = "index.html"


@cache
def page() -> str:
    """The dashboard page, read once from the package."""
    return resources.files("logctl.dashboard").joinpath("static", PAGE).read_text("utf-8")

