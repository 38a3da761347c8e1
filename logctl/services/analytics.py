"""Analytics: answers metric queries with the JSON contract of `logctl metrics --format
json` (README, "JSON output"): a summary, groups (`--by`, `--top`), or a time series
(`--step`)."""

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from logctl import collector
from logctl.errors import PeerError, StoreError, UsageError
from logctl.metrics import dense, sketch
from logctl.metrics.points import Point
from logctl.metrics.window import iso, parse_moment, parse_step
from logctl.store.base import KEY_SEP, Coverage, Query, Row, grouping

QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
QUANTILE_LEVELS = tuple(QUANTILES.values())


class QueryClient(Protocol):
    """The part of storage analytics reads."""

    def query(self, query: Query) -> list[Row]: ...

    def coverage(self, query: Query) -> Coverage: ...


@dataclass(frozen=True)
class MetricsRequest:
    """A metrics question as users ask it (CLI flags, REST parameters, gRPC fields): times
    as text relative to now, a grouping, a step, filters."""

    since: str | None = None
    until: str | None = None
    by: str | None = None
    step: str | None = None
    top: int | None = None
    sources: Sequence[str] = ()
    hosts: Sequence[str] = ()
    route: str | None = None
    statuses: Sequence[str] = ()
    methods: Sequence[str] = ()

    def to_query(self, now: float) -> Query:
        """The store query, checked: a bad time, step, grouping or top is a UsageError."""
        grouping(self.by)
        if self.top is not None and self.top < 1:
            raise UsageError(f"bad top {self.top}: use a number of groups, 1 or more")
        return Query(
            start=parse_moment(self.since, now) if self.since else None,
            end=parse_moment(self.until, now) if self.until else None,
            sources=tuple(self.sources), hosts=tuple(self.hosts), route_glob=self.route,
            statuses=tuple(self.statuses), methods=tuple(m.upper() for m in self.methods),
            group_by=self.by, step_minutes=parse_step(self.step) if self.step else None,
        )


class TieredQueryClient:
    """Reads recent ranges from one client (storage's gRPC, real time) and older ones from
    another (its REST history endpoint). A range across the cut-off (`window` seconds
    before now, on a minute boundary) is split there and the halves merged; buckets are
    aligned to absolute time, so the halves' rows line up. A range with no start is
    history as a whole (it may include lines of unknown time)."""

    def __init__(self, recent: QueryClient, history: QueryClient, window: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.recent = recent
        self.history = history
        self.window = window
        self.clock = clock

    def query(self, query: Query) -> list[Row]:
        cut = int((self.clock() - self.window) // 60) * 60
        if query.start is None or (query.end is not None and query.end <= cut):
            return self.history.query(query)
        if query.start >= cut:
            return self.recent.query(query)
        rows = self.history.query(replace(query, end=cut))
        rows += self.recent.query(replace(query, start=cut))
        return merge_keyed(rows)

    def coverage(self, query: Query) -> Coverage:
        return self.recent.coverage(query)


class FirstAnswering:
    """A QueryClient over several storage instances holding the same data: each query
    goes to the first that answers, so one instance down does not stop analytics."""

    def __init__(self, clients: list[QueryClient]) -> None:
        self.clients = clients

    def _ask(self, method: str, query: Query) -> Any:
        last: PeerError | None = None
        for client in self.clients:
            try:
                return getattr(client, method)(query)
            except PeerError as exc:
                if not exc.retryable:
                    raise
                last = exc
        assert last is not None
        raise last

    def query(self, query: Query) -> list[Row]:
        return self._ask("query", query)

    def coverage(self, query: Query) -> Coverage:
        return self._ask("coverage", query)


def merge_keyed(rows: list[Row]) -> list[Row]:
    """Rows with the same key and bucket merged into one."""
    merged: dict[tuple[str | None, int | None], Row] = {}
    for row in rows:
        mine = merged.get((row.key, row.bucket))
        if mine is None:
            merged[(row.key, row.bucket)] = row
        else:
            mine.point.merge(row.point)
            mine.malformed += row.malformed
    return list(merged.values())


def summarize(point: Point, malformed: int, t: int | None = None) -> dict[str, Any]:
    """The contract's fields for one merged point (after its bucket's start `t`, epoch
    seconds, when one is given): in C where built and the histogram is packed dense, as a
    rollup's or a decoded block's sum is (a one-minute series over ten days summarizes
    14,400 points, and Python's rounding and time formatting were most of it)."""
    if _SUMMARY is not None:
        try:
            found = _SUMMARY(point, malformed, t)
        except ValueError as error:  # the native code's words for a corrupt histogram
            raise StoreError(str(error)) from None
        if found is not NotImplemented:
            return found
    return summarize_python(point, malformed, t)


def summarize_python(point: Point, malformed: int, t: int | None = None) -> dict[str, Any]:
    """`summarize` in Python: the contract's definition, and what C reproduces."""
    latency = None
    if point.latency_count:
        latency = dict(zip(QUANTILES, [round(value or 0.0, 3) for value in
                                       point.quantiles(QUANTILE_LEVELS)], strict=True))
        latency["max"] = round(point.latency_max, 3)
        latency["mean"] = round(point.latency_sum / point.latency_count, 3)
    count = point.count
    return {
        **({} if t is None else {"t": iso(t)}),
        "requests": count,
        "errors": point.errors,
        "client_errors": point.client_errors,
        "error_rate": round(point.errors / count, 6) if count else 0.0,
        "bytes": point.bytes,
        "malformed": malformed,
        "latency_ms": latency,
        "first": iso(point.first) if count else None,
        "last": iso(point.last) if count else None,
    }


_SUMMARY = None if sketch._sketch is None else functools.partial(
    sketch._sketch.summary, (dense.LOW, dense.HIGH, sketch.GAMMA, sketch.ZERO_BIN,
                             QUANTILE_LEVELS, tuple(QUANTILES), round, iso))


@dataclass(frozen=True)
class MetricsResult:
    """A query's answer: the JSON body, whether the range held any data, and a line about
    its resolution when part of it is stored per hour."""

    body: dict[str, Any]
    empty: bool
    note: str = ""


class AnalyticsService:
    """Turns queries into the JSON contract. `max_cells` bounds what one query may cost
    (time buckets times groups): the daemon sets it, the embedded mode needs none."""

    def __init__(self, store: QueryClient, max_cells: int | None = None) -> None:
        self.store = store
        self.max_cells = max_cells

    def answer(self, request: MetricsRequest, now: float) -> MetricsResult:
        """The JSON contract for a request as users phrase it."""
        query = request.to_query(now)
        self._check_buckets(query, now)
        note = self._resolution(query)
        return replace(self.metrics(query, request.top), note=note)

    def _resolution(self, query: Query) -> str:
        """Where the range reaches into downsampled (hourly) points: refuse a step finer
        than an hour, and say that times there count whole hours. A query with no step
        and no range is a whole-store total, exact at any resolution: nothing is asked."""
        if not (query.step_minutes or query.start is not None or query.end is not None):
            return ""
        hourly = self.store.coverage(query).hourly_before
        if hourly is None or (query.start is not None and query.start >= hourly):
            return ""
        if query.step_minutes and query.step_minutes % 60:
            raise UsageError(f"a {query.step_minutes}-minute step is finer than what is "
                             f"stored before {iso(hourly)}: points there are per hour "
                             f"(downsampled); use a step of whole hours (1h), or --since "
                             f"{iso(hourly)}")
        return f"resolution: 1 hour before {iso(hourly)} (downsampled), 1 minute after"

    def _check_buckets(self, query: Query, now: float) -> None:
        """Refuse a time series with more buckets than the limit before reading a row."""
        if self.max_cells is None or not query.step_minutes or query.start is None:
            return
        buckets = math.ceil(((query.end or now) - query.start) / (query.step_minutes * 60))
        if buckets > self.max_cells:
            raise UsageError(f"{buckets:,} time buckets is over the limit of "
                             f"{self.max_cells:,}: use a larger step or a shorter range")

    def metrics(self, query: Query, top: int | None = None) -> MetricsResult:
        """Summary, groups or series, as the query asks."""
        with collector.paused():
            return self._metrics(query, top)

    def _metrics(self, query: Query, top: int | None) -> MetricsResult:
        rows = self.store.query(query)
        if self.max_cells is not None and len(rows) > self.max_cells:
            raise UsageError(f"the answer has {len(rows):,} groups and buckets, over the limit "
                             f"of {self.max_cells:,}: narrow the range, coarsen the step or "
                             "filter")
        empty = not any(row.point.count or row.malformed for row in rows)
        if query.step_minutes:
            body = {"series": self._series(rows, query, top)}
        elif query.group_by:
            body = {"groups": ranked(rows, top, len(query.dimensions))}
        else:
            merged = merge_rows(rows)
            body = summarize(merged.point, merged.malformed)
        return MetricsResult(body, empty)

    def coverage(self, query: Query) -> Coverage:
        """What data exists under the query's filters, whatever its time range."""
        return self.store.coverage(query)

    def _series(self, rows: list[Row], query: Query, top: int | None) -> list[dict[str, Any]]:
        if not rows:
            return []
        step = (query.step_minutes or 1) * 60
        if not query.group_by:
            return totals_series(rows, step)
        by_bucket: dict[int, list[Row]] = {}
        for row in rows:
            by_bucket.setdefault(row.bucket or 0, []).append(row)
        width = len(query.dimensions)
        return [{"t": iso(bucket), "groups": ranked(by_bucket.get(bucket, []), top, width)}
                for bucket in range(min(by_bucket), max(by_bucket) + step, step)]


def totals_series(rows: list[Row], step: int) -> list[dict[str, Any]]:
    """A series of one total a bucket, every bucket from the first to the last (empty
    ones too): the rows of a bucket merged into its first (rows are the query's own), one
    summary each (a one-minute series over days has tens of thousands)."""
    merged = {row.bucket or 0: row for row in merge_keyed(rows)}  # no grouping: key None
    nothing = Row(None, None)
    return [summarize(each.point, each.malformed, bucket)
            for bucket in range(min(merged), max(merged) + step, step)
            for each in (merged.get(bucket, nothing),)]


def merge_rows(rows: list[Row]) -> Row:
    """All rows merged into one (a lone row as it is: nothing to merge)."""
    if len(rows) == 1:
        return rows[0]
    total = Row(None, None)
    for row in rows:
        total.point.merge(row.point)
        total.malformed += row.malformed
    return total


def ranked(rows: list[Row], top: int | None, width: int = 1) -> list[dict[str, Any]]:
    """Groups by requests, most first (ties by key), cut to `top`. Grouped by two
    dimensions (`width`), a key is the list of its values."""
    ordered = sorted(rows, key=lambda r: (-r.point.count, str(r.key)))
    limit = top if top is not None else math.inf
    return [{"key": group_key(row.key, width), **summarize(row.point, row.malformed)}
            for i, row in enumerate(ordered) if i < limit]


def group_key(key: str | None, width: int) -> str | list[str] | None:
    """A stored group key as the JSON contract gives it: one dimension's value as it is,
    two dimensions' as a list."""
    if width < 2 or key is None:
        return key
    return key.split(KEY_SEP, width - 1)
