"""A batch's points as the wire's PackedPoints columns (one list per field, a series index
per point, the histograms joined), and back. Waiting groups cross without a Point made on
either side: the native `_columns` module turns them into columns and columns into groups
(a sparse log has nearly a point a line, and in Python each direction cost a few
microseconds a point, on storage's one writer among others); the pure-Python paths below
do the same where it was not built."""

from collections.abc import Sequence

from logctl.errors import StoreError, UsageError
from logctl.metrics import sketch
from logctl.metrics.points import ChunkAggregate, Group, Point, PointKey
from logctl.pb import storage_pb2 as spb

try:
    from logctl.metrics import _columns
except ImportError:  # built without a C compiler
    _columns = None

COUNTERS = ("counts", "errors", "client_errors", "bytes", "latency_counts", "latency_sums",
            "latency_maxes", "firsts", "lasts")  # PackedPoints' fields, in Point.counters order
SeriesIndex = dict[tuple[str, str, str, int], int]
# Point columns: series index, minute, the nine counter columns, histogram sizes, histograms.
Columns = tuple[list[int], list[int], Sequence[list], list[int], bytes]


def pack_points(aggregate: ChunkAggregate) -> spb.PackedPoints:
    """An aggregate's points and waiting groups as columns (a key may come twice: the
    receiver merges it)."""
    points, groups = aggregate.split()
    series: SeriesIndex = {}
    made = point_columns(points, series)
    waiting = group_columns(groups, aggregate.folded_paths(), series)
    hosts, methods, routes, statuses = zip(*series, strict=True) if series else ((),) * 4
    counters = {name: made[2][k] + waiting[2][k] for k, name in enumerate(COUNTERS)}
    return spb.PackedPoints(hosts=hosts, methods=methods, routes=routes, statuses=statuses,
                            series=made[0] + waiting[0], minutes=made[1] + waiting[1],
                            hist_sizes=made[3] + waiting[3], hists=made[4] + waiting[4],
                            **counters)


def point_columns(points: dict[PointKey, Point], series: SeriesIndex) -> Columns:
    """Points (those a line parser made: few) as columns, their keys indexed in `series`."""
    index = [series.setdefault(key[1:], len(series)) for key in points]
    counters = [p.counters() for p in points.values()]
    hists = [p.encoded_hist() or b"" for p in points.values()]
    return (index, [key[0] for key in points], transposed(counters),
            [len(h) for h in hists], b"".join(hists))


def group_columns(groups: list[list[Group]], folded: dict[str, str],
                  series: SeriesIndex) -> Columns:
    """Waiting groups as columns, each path folded (`folded`) and each key indexed in
    `series`."""
    if _columns is not None:
        return _columns.columns(groups, folded, series)
    waiting = [g for each in groups for g in each]
    hists = [g[6] or b"" for g in waiting]
    return ([series.setdefault((g[1], g[2], folded[g[3]], g[4]), len(series))
             for g in waiting], [g[0] for g in waiting], transposed([g[5] for g in waiting]),
            [len(h) for h in hists], b"".join(hists))


def transposed(rows: list[tuple]) -> list[list]:
    """Rows of the nine counters as nine columns."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [
        [] for _ in COUNTERS]


def unpack_points(msg: spb.PackedPoints, into: ChunkAggregate) -> None:
    """Add packed points into a batch's aggregate as waiting groups (their routes fold to
    themselves), so a store that writes groups makes no Point of them. Columns that do not
    line up, or a corrupted histogram, are the sender's error (UsageError: refused, never
    retried)."""
    if len({len(msg.hosts), len(msg.methods), len(msg.routes), len(msg.statuses)}) != 1:
        raise UsageError("bad packed points: their columns do not line up")
    keys = list(zip(msg.hosts, msg.methods, msg.routes, msg.statuses, strict=True))
    counters = tuple(getattr(msg, name) for name in COUNTERS)
    try:
        groups = unpacked(keys, msg.series, msg.minutes, counters, msg.hist_sizes, msg.hists)
    except (ValueError, StoreError) as exc:
        raise UsageError(f"bad packed points: {exc}") from None
    if groups:
        into.groups.append(groups)


def unpacked(keys: list[tuple], series: Sequence[int], minutes: Sequence[int],
             counters: tuple[Sequence, ...], sizes: Sequence[int], hists: bytes) -> list[Group]:
    """Columns back as groups; ValueError (or StoreError, for a histogram in Python) when
    they do not line up or a histogram is corrupt."""
    if _columns is not None:
        return _columns.groups(keys, series, minutes, counters, sizes, hists)
    columns = (series, minutes, *counters, sizes)
    if (len({len(column) for column in columns}) != 1 or sum(sizes) != len(hists)
            or any(not 0 <= which < len(keys) for which in series)):
        raise ValueError("their columns do not line up")
    blobs, start = [], 0
    for size in sizes:
        blob, start = hists[start:start + size] or None, start + size
        sketch.check(blob)
        blobs.append(blob)
    return [(minute, *keys[which], each, blob) for which, minute, each, blob
            in zip(series, minutes, zip(*counters, strict=True), blobs, strict=True)]
