"""Analytics: answers metric queries with the JSON contract of `logctl metrics --format
json` (README, "JSON output"): a summary, groups (`--by`, `--top`), or a time series
(`--step`)."""

import math
from dataclasses import dataclass
from typing import Any, Protocol

from logctl.metrics import sketch
from logctl.metrics.points import Point
from logctl.metrics.window import iso
from logctl.store.base import Coverage, Query, Row

QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


class QueryClient(Protocol):
    """The part of storage analytics reads."""

    def query(self, query: Query) -> list[Row]: ...

    def coverage(self, query: Query) -> Coverage: ...


def summarize(point: Point, malformed: int) -> dict[str, Any]:
    """The contract's fields for one merged point."""
    latency = None
    if point.latency_count:
        latency = {name: round(sketch.quantile(point.hist, q, point.latency_max) or 0.0, 3)
                   for name, q in QUANTILES.items()}
        latency["max"] = round(point.latency_max, 3)
        latency["mean"] = round(point.latency_sum / point.latency_count, 3)
    return {
        "requests": point.count,
        "errors": point.errors,
        "client_errors": point.client_errors,
        "error_rate": round(point.errors / point.count, 6) if point.count else 0.0,
        "bytes": point.bytes,
        "malformed": malformed,
        "latency_ms": latency,
        "first": iso(point.first) if point.count else None,
        "last": iso(point.last) if point.count else None,
    }


@dataclass(frozen=True)
class MetricsResult:
    """A query's answer: the JSON body, and whether the range held any data."""

    body: dict[str, Any]
    empty: bool


class AnalyticsService:
    """Turns queries into the JSON contract."""

    def __init__(self, store: QueryClient) -> None:
        self.store = store

    def metrics(self, query: Query, top: int | None = None) -> MetricsResult:
        """Summary, groups or series, as the query asks."""
        rows = self.store.query(query)
        empty = not any(row.point.count or row.malformed for row in rows)
        if query.step_minutes:
            body = {"series": self._series(rows, query, top)}
        elif query.group_by:
            body = {"groups": ranked(rows, top)}
        else:
            merged = merge_rows(rows)
            body = summarize(merged.point, merged.malformed)
        return MetricsResult(body, empty)

    def coverage(self, query: Query) -> Coverage:
        """What data exists under the query's filters, whatever its time range."""
        return self.store.coverage(query)

    def _series(self, rows: list[Row], query: Query, top: int | None) -> list[dict[str, Any]]:
        step = (query.step_minutes or 1) * 60
        by_bucket: dict[int, list[Row]] = {}
        for row in rows:
            by_bucket.setdefault(row.bucket or 0, []).append(row)
        if not by_bucket:
            return []
        series = []
        for bucket in range(min(by_bucket), max(by_bucket) + step, step):
            bucket_rows = by_bucket.get(bucket, [])
            entry: dict[str, Any] = {"t": iso(bucket)}
            if query.group_by:
                entry["groups"] = ranked(bucket_rows, top)
            else:
                merged = merge_rows(bucket_rows)
                entry.update(summarize(merged.point, merged.malformed))
            series.append(entry)
        return series


def merge_rows(rows: list[Row]) -> Row:
    """All rows merged into one."""
    total = Row(None, None)
    for row in rows:
        total.point.merge(row.point)
        total.malformed += row.malformed
    return total


def ranked(rows: list[Row], top: int | None) -> list[dict[str, Any]]:
    """Groups by requests, most first (ties by key), cut to `top`."""
    ordered = sorted(rows, key=lambda r: (-r.point.count, str(r.key)))
    limit = top if top is not None else math.inf
    return [{"key": row.key, **summarize(row.point, row.malformed)}
            for i, row in enumerate(ordered) if i < limit]
