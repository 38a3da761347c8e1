"""Points: per minute and series, exact counters plus a latency histogram. A chunk of log
lines becomes a `ChunkAggregate`; aggregates merge by adding, whatever their order."""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from logctl.formats.lines import iter_lines, parse_bounded
from logctl.formats.record import SKIP, LineParser, Record
from logctl.metrics import dense, sketch
from logctl.metrics.route import fold_route

# host, method, route, status: the series dimensions a point carries besides its source.
SeriesKey = tuple[str, str, str, int]
PointKey = tuple[int, str, str, str, int]  # minute (epoch s), then the series key

MAX_SAMPLES = 5
K = TypeVar("K")


class Point:
    """Counters of one minute of one series. Mutable, for the hot loop.

    The histogram may arrive encoded (from the columnar engine or a worker process) and is
    decoded only when read, so a point that goes straight to storage is never unpacked.
    A query's point may hold it packed dense (as rollups sum it): merged and read for
    quantiles in place, which a time series of thousands of buckets does for each.
    """

    __slots__ = ("_blob", "_dense", "_hist", "bytes", "client_errors", "count", "errors",
                 "first", "last", "latency_count", "latency_max", "latency_sum")

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.client_errors = 0
        self.bytes = 0
        self.latency_count = 0
        self.latency_sum = 0.0
        self.latency_max = 0.0
        self._hist: sketch.Histogram | None = {}
        self._blob: bytes | None = None
        self._dense: bytes | None = None
        self.first = float("inf")
        self.last = float("-inf")

    @property
    def hist(self) -> sketch.Histogram:
        """The latency histogram as a {bin: count} dict (decoded on first use)."""
        if self._hist is None:
            self._hist = (sketch.decode(self._blob) if self._dense is None
                          else dense.decode(self._dense))
            self._blob = self._dense = None
        return self._hist

    @hist.setter
    def hist(self, value: sketch.Histogram) -> None:
        self._hist, self._blob, self._dense = value, None, None

    def set_encoded_hist(self, blob: bytes | None) -> None:
        """Take a histogram as `sketch.encode` packs it, without decoding it."""
        self._hist, self._blob, self._dense = None, blob, None

    def set_dense_hist(self, blob: bytes | None) -> None:
        """Take a histogram as `dense.encode` packs it (a rollup, a query's sum), without
        decoding it."""
        self._hist, self._blob, self._dense = None, None, blob

    def quantiles(self, qs: Sequence[float]) -> list[float | None]:
        """`sketch.quantiles` of the histogram, clamped to the exact maximum (read in
        place when it is packed dense)."""
        if self._hist is None and self._dense is not None:
            return dense.quantiles(self._dense, qs, self.latency_max)
        return sketch.quantiles(self.hist, qs, self.latency_max)

    def encoded_hist(self) -> bytes | None:
        """The histogram packed for storage (None when empty), without a decode/encode
        round trip when it arrived packed."""
        if self._hist is None and self._dense is None:
            return self._blob or None
        hist = self.hist
        return sketch.encode(hist) if hist else None

    def merge(self, other: "Point") -> None:
        """Add another point of the same minute and series."""
        self.count += other.count
        self.errors += other.errors
        self.client_errors += other.client_errors
        self.bytes += other.bytes
        self.latency_count += other.latency_count
        self.latency_sum += other.latency_sum
        self.latency_max = max(self.latency_max, other.latency_max)
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)
        if self._hist is None and other._hist is None and \
                (self._dense is None) == (other._dense is None):  # both packed alike
            if self._dense is None:
                self._blob = sketch.merge_packed(self._blob, other._blob)
            else:
                self._dense = dense.add(self._dense, other._dense)
        else:
            sketch.merge_into(self.hist, other.hist)

    def copy(self) -> "Point":
        """An independent copy (the histogram stays packed if it is)."""
        return point_from(self.counters(), self.encoded_hist())

    def counters(self) -> tuple:
        """The counters without the histogram, in `as_tuple` order."""
        return (self.count, self.errors, self.client_errors, self.bytes, self.latency_count,
                self.latency_sum, self.latency_max, self.first, self.last)

    def as_tuple(self) -> tuple:
        """All fields, for comparisons in tests."""
        (count, errors, client_errors, size, latency_count, latency_sum, latency_max, first,
         last) = self.counters()
        return (count, errors, client_errors, size, latency_count, latency_sum, latency_max,
                dict(sorted(self.hist.items())), first, last)

    def __reduce__(self) -> tuple:
        """Pickle the histogram packed: far smaller and faster than a dict of ints."""
        return (point_from, (self.counters(), self.encoded_hist()))


def merge_point(points: dict[K, Point], key: K, point: Point) -> None:
    """Put a point at its key, or merge it into the one already there (taking it over:
    the caller gives it up)."""
    mine = points.get(key)
    if mine is None:
        points[key] = point
    else:
        mine.merge(point)


def point_from(counters: tuple, blob: bytes | None) -> Point:
    """A point from its counters (in `counters()` order) and packed histogram: the fast
    engines make one per group, so this skips __init__'s defaults."""
    point = Point.__new__(Point)
    (point.count, point.errors, point.client_errors, point.bytes, point.latency_count,
     point.latency_sum, point.latency_max, point.first, point.last) = counters
    point._hist, point._blob, point._dense = None, blob, None
    return point


def dense_point(counters: tuple, blob: bytes | None) -> Point:
    """A point from its counters (in `counters()` order) and a dense-packed histogram, as
    a query reads merged rows: thousands per time series, so no __init__ either."""
    point = point_from(counters, None)
    point._dense = blob
    return point


# What the fast engines (the native scanner, the columnar ones) group a chunk's lines into
# before they are points, and what a batch's packed columns unpack to: (minute, host,
# method, path, status, counters in `Point.counters` order, packed histogram), the path
# not yet folded to its route (a route folds to itself).
Group = tuple[int, str, str, str, int, tuple, bytes | None]


@dataclass
class ChunkAggregate:
    """What a chunk of lines amounts to: points, and malformed lines by minute (None when
    the chunk had no parsable line to place them next to), with a few samples.

    Groups wait as they came (`groups`, lists of Group) until something reads `points`,
    which makes them points then: a store that writes groups as rows itself (SQLite) and
    the wire's packed columns never build a Point for them, where a sparse log has nearly
    a point a line."""

    _points: dict[PointKey, Point] = field(default_factory=dict)
    malformed: dict[int | None, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)
    lines: int = 0
    groups: list[list[Group]] = field(default_factory=list)

    @property
    def points(self) -> dict[PointKey, Point]:
        """Every point, the waiting groups made points (each keyed by its folded route, so
        groups of paths that fold to one route merge)."""
        if self.groups:
            points = self._points
            for groups in self.groups:
                for minute, host, method, path, status, counters, blob in groups:
                    merge_point(points, (minute, host, method, fold_route(path), status),
                                point_from(counters, blob))
            self.groups = []
        return self._points

    @points.setter
    def points(self, points: dict[PointKey, Point]) -> None:
        self._points, self.groups = points, []

    def split(self) -> tuple[dict[PointKey, Point], list[list[Group]]]:
        """The points made so far and the groups still waiting, for a store that writes
        groups itself; together they are `points` (a key may be in both)."""
        return self._points, self.groups

    def folded_paths(self) -> dict[str, str]:
        """Each waiting group's path and the route it folds to, folded once a distinct
        path: for a writer that keys groups by route without making them points."""
        return {path: fold_route(path)
                for path in {group[3] for groups in self.groups for group in groups}}

    def minutes(self) -> set[int]:
        """The minutes the aggregate has points in, without making the groups points."""
        return {key[0] for key in self._points} | {
            group[0] for groups in self.groups for group in groups}

    def merge(self, other: "ChunkAggregate") -> None:
        """Add another aggregate into this one (its waiting groups wait here)."""
        for key, point in other._points.items():
            merge_point(self._points, key, point)
        self.groups.extend(other.groups)
        for minute, count in other.malformed.items():
            self.malformed[minute] = self.malformed.get(minute, 0) + count
        self.samples.extend(other.samples[: MAX_SAMPLES - len(self.samples)])
        self.lines += other.lines

    def default_host(self, host: str) -> None:
        """Give points whose lines named no host this one (a shipper's host label)."""
        for key in [key for key in self.points if key[1] == ""]:
            merge_point(self.points, (key[0], host, *key[2:]), self.points.pop(key))

    @property
    def requests(self) -> int:
        """Lines parsed into points."""
        return sum(point.count for point in self._points.values()) + sum(
            group[5][0] for groups in self.groups for group in groups)

    def note_pending(self, minute: int | None, lines: list[bytes]) -> None:
        """Count malformed lines held until the minute to place them at was known, and
        empty the list."""
        for line in lines:
            self.note_malformed(minute, line)
        lines.clear()

    def note_malformed(self, minute: int | None, line: bytes, count: int = 1) -> None:
        """Count malformed lines at a minute and keep a sample of the first few."""
        self.malformed[minute] = self.malformed.get(minute, 0) + count
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(line[:200].decode("utf-8", "replace"))


def add_record(points: dict[PointKey, Point], record: Record) -> int:
    """Count one record into its point; returns its minute."""
    minute = int(record.ts // 60) * 60
    key = (minute, record.host, record.method, fold_route(record.path), record.status)
    point = points.get(key)
    if point is None:
        point = points[key] = Point()
    point.count += 1
    status = record.status
    # An HTTP status decides (Caddy logs a 404 at level error); a record without one (an
    # event) is an error when its level is err or worse.
    if status >= 500 or (status < 100 and record.severity is not None
                         and record.severity <= 3):
        point.errors += 1
    elif 400 <= status < 500:
        point.client_errors += 1
    point.bytes += record.bytes
    ts = record.ts
    if ts < point.first:
        point.first = ts
    if ts > point.last:
        point.last = ts
    rt = record.rt_ms
    if rt is not None and math.isfinite(rt):  # '1e999' or a 400-digit field: no latency
        point.latency_count += 1
        point.latency_sum += rt
        if rt > point.latency_max:
            point.latency_max = rt
        sketch.add(point.hist, rt)
    return minute


def aggregate_lines(data: bytes, parse_line: LineParser) -> ChunkAggregate:
    """Parse and aggregate a chunk of whole lines with a per-line parser.

    Malformed lines never stop the chunk: each is counted at the minute of the last good
    line before it (or the first after it, at the chunk's start).
    """
    result = ChunkAggregate()
    points = result.points
    minute: int | None = None
    pending: list[bytes] = []
    for line in iter_lines(data):
        result.lines += 1
        record = parse_bounded(parse_line, line)
        if record is SKIP:
            continue
        if record is None:
            if minute is None:
                pending.append(line)
            else:
                result.note_malformed(minute, line)
            continue
        minute = add_record(points, record)
        result.note_pending(minute, pending)
    result.note_pending(None, pending)
    return result

