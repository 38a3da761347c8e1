"""`logctl report`: one self-contained HTML file of a range's metrics, to mail to a
colleague. This module gathers what the page shows through the same analytics client as
`logctl metrics` (so the page's totals are that command's totals); page.py writes it."""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from logctl.connect import AnalyticsClient
from logctl.errors import UsageError
from logctl.metrics.window import iso, parse_moment
from logctl.services.analytics import MetricsRequest

# Steps a time chart may use, finest first; the first that gives at most MAX_BUCKETS wins.
STEPS = (("1m", 60), ("5m", 300), ("15m", 900), ("1h", 3600), ("6h", 21600), ("1d", 86400),
         ("7d", 604800))
MAX_BUCKETS = 240
TOP = 20
SLOWEST_FROM = 200  # routes with the most requests, ranked again by p95
MIN_REQUESTS_FOR_SLOWEST = 5  # a route seen once or twice says little about its p95


@dataclass
class Report:
    """Everything the page shows: the request as asked, its answers, and when."""

    request: MetricsRequest
    generated: float
    totals: dict[str, Any]
    step: str | None = None
    series: list[dict[str, Any]] = field(default_factory=list)
    groups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    slowest: list[dict[str, Any]] = field(default_factory=list)
    samples: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The data embedded in the page (for its scripts, and for anyone who saves it)."""
        return {"generated": iso(self.generated), "range": self.range_text(),
                "filters": self.filter_text(), "totals": self.totals, "step": self.step,
                "series": self.series, "groups": self.groups, "slowest": self.slowest,
                "samples": [{"source": s, "line": line} for s, line in self.samples]}

    def range_text(self) -> str:
        first, last = self.totals.get("first"), self.totals.get("last")
        asked = (self.request.since or first or "the beginning",
                 self.request.until or last or "now")
        return f"{asked[0]} to {asked[1]}"

    def filter_text(self) -> str:
        r = self.request
        parts = [f"{name} {', '.join(values)}" for name, values in (
            ("source", r.sources), ("host", r.hosts), ("status", r.statuses),
            ("method", r.methods)) if values]
        if r.route:
            parts.append(f"route {r.route}")
        return "; ".join(parts) or "none"


def build(client: AnalyticsClient, request: MetricsRequest, now: float,
          samples: Callable[[], list[tuple[str, str]]] | None = None) -> Report:
    """Ask the client every question the page answers."""
    totals = client.answer(request).body
    report = Report(request, now, totals)
    if not totals["requests"] and not totals["malformed"]:
        report.notes.append("no data in this range")
        return report
    report.step, report.series = _series(client, request, totals, now)
    for by in ("route", "status", "host", "source", "method"):
        report.groups[by] = client.answer(replace(request, by=by, top=TOP)).body["groups"]
    busiest = client.answer(replace(request, by="route", top=SLOWEST_FROM)).body["groups"]
    measured = [g for g in busiest if g["latency_ms"] and g["requests"] >=
                MIN_REQUESTS_FOR_SLOWEST]
    report.slowest = sorted(measured, key=lambda g: -g["latency_ms"]["p95"])[:TOP]
    if samples is not None:
        report.samples = samples()
    else:
        report.notes.append("malformed-line samples are read from the store itself: "
                            "run the report where the store is to include them")
    return report


def _series(client: AnalyticsClient, request: MetricsRequest, totals: dict[str, Any],
            now: float) -> tuple[str, list[dict[str, Any]]]:
    """The time series at the finest step that keeps the chart readable (and that the
    store holds: an hourly, downsampled range refuses finer steps)."""
    start = parse_moment(request.since, now) if request.since else _epoch(totals["first"])
    end = parse_moment(request.until, now) if request.until else _epoch(totals["last"]) + 60
    span = max(end - start, 60)
    for name, seconds in STEPS:
        if span / seconds > MAX_BUCKETS and name != STEPS[-1][0]:
            continue
        try:
            return name, client.answer(replace(request, step=name)).body["series"]
        except UsageError:  # finer than the stored resolution: try the next step
            continue
    raise UsageError("no step fits this range")


def _epoch(text: str | None) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else 0.0
