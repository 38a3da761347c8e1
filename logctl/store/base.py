"""The Store protocol every backend keeps, and the values that cross it: batches in,
query rows out."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from logctl.errors import StoreError, UsageError
from logctl.metrics.points import ChunkAggregate, Group, Point, PointKey

DIMENSIONS = ("route", "status", "method", "host", "source", "status_class")
FILTERS = ("source", "host", "route", "status", "method")
MAX_GROUP_DIMENSIONS = 2
KEY_SEP = "\x1f"  # between the values of a two-dimension group key, as stores return it


@dataclass(frozen=True)
class Position:
    """Where a batch's lines came from: a source identity and a byte range in it."""

    source_id: str
    start: int
    end: int


@dataclass
class Batch:
    """One unit of exactly-once storage: points of one source, with a deterministic id
    (`source_id:start:end`) that storage records in the same transaction."""

    source: str
    position: Position
    aggregate: ChunkAggregate

    @property
    def batch_id(self) -> str:
        """Deterministic from where the lines came from, so a resend is recognised."""
        p = self.position
        return f"{p.source_id}:{p.start}:{p.end}"


@dataclass(frozen=True)
class Query:
    """A metrics query: a time range (epoch seconds, None = open), filters, a grouping
    (one or two of DIMENSIONS, comma-separated) and/or a step in minutes for a time
    series."""

    start: float | None = None
    end: float | None = None
    sources: Sequence[str] = ()
    hosts: Sequence[str] = ()
    route_glob: str | None = None
    statuses: Sequence[str] = ()
    methods: Sequence[str] = ()
    group_by: str | None = None
    step_minutes: int | None = None
    # False: rows come without histograms (far cheaper to read, for answers that need no
    # latency quantiles).
    histograms: bool = True

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The grouping's dimensions, in order (none without a grouping)."""
        return grouping(self.group_by, len(DIMENSIONS))

    @property
    def filters_records(self) -> bool:
        """True when a filter narrows records below a whole source (malformed lines have no
        host, route, status or method, so they are not counted under such filters)."""
        return bool(self.hosts or self.route_glob or self.statuses or self.methods)


@dataclass(slots=True)
class Row:
    """One merged result row: a group key and/or bucket start, and the merged point
    (slotted: a one-minute series over days is tens of thousands of them)."""

    key: str | None
    bucket: int | None
    point: Point = field(default_factory=Point)
    malformed: int = 0


@dataclass(frozen=True)
class Coverage:
    """What the store holds: first and last request time (epoch s), counts, and the time
    before which points are per hour (downsampled), if any are."""

    first: float | None
    last: float | None
    points: int
    batches: int
    hourly_before: float | None = None


@dataclass(frozen=True)
class Downsampled:
    """What folding minute points into hour points did (or would do, in a dry run)."""

    hours: int
    points_before: int
    points_after: int


@dataclass
class SourceTotals:
    """What the store holds of one source: its request times and counts, and the ids of
    the inputs (files, streams) its batches came from."""

    name: str
    first: float | None = None
    last: float | None = None
    requests: int = 0
    errors: int = 0
    malformed: int = 0
    lines: int = 0
    batches: int = 0
    source_ids: list[str] = field(default_factory=list)


SeriesKey = tuple[str, str, str, str, int]  # source, host, method, route, status
LedgerRow = tuple[str, str, str, int, int, int, float]  # batch id, source, source id, start,
#                                                         end, lines, committed at
StoredPoint = tuple[SeriesKey, int, Point]  # series, minute, merged point


def group_series(groups: list[list[Group]], folded: dict[str, str], source: str,
                 renames: dict[str, str]) -> dict[tuple[str, str, str, int], SeriesKey]:
    """The series of each distinct (host, method, path, status) of a batch's waiting groups:
    the path folded to its route (`folded`, ChunkAggregate.folded_paths), renamed where
    the route cap says (`renames`)."""
    return {key: (source, key[0], key[1], renames.get(route, route), key[3])
            for key in {g[1:5] for each in groups for g in each}
            for route in (folded[key[2]],)}


@dataclass
class Dump:
    """Everything a store holds, for copying it into another: the ledger, the days with
    points, malformed counts and samples, and the points as a stream of chunks."""

    ledger: list[LedgerRow]
    days: set[int]
    malformed: list[tuple[str, int, int]]
    samples: list[tuple[str, str]]
    points: Iterable[list[StoredPoint]]


Progress = Callable[[int], None]  # points copied since the last call


def grouping(by: str | None, limit: int = MAX_GROUP_DIMENSIONS) -> tuple[str, ...]:
    """The dimensions of a `--by` value ('route' or 'route,status'), checked: a UsageError
    names what is wrong. Users group by at most two; the store answers any number (the
    Prometheus API reads series by all their labels)."""
    if by is None:
        return ()
    names = tuple(name.strip() for name in by.split(","))
    for name in names:
        if name not in DIMENSIONS:
            raise UsageError(f"cannot group by {name!r}: use one of {', '.join(DIMENSIONS)}")
    if len(names) > limit or len(set(names)) != len(names):
        raise UsageError(f"cannot group by {by!r}: use one dimension or two different ones "
                         "(route,status)")
    return names


def claim_ledger(inserted: int, total: int, where: object) -> bool:
    """Whether an import whose ledger rows inserted `inserted` of `total` should proceed:
    all new, yes; none new, it was copied before; some, the stores overlap (refused)."""
    if inserted == total:
        return total > 0
    if inserted == 0:
        return False
    raise StoreError(f"{where} already holds {total - inserted} of the {total} batches being "
                     "copied: merging would count them twice (copy into an empty store)")


def unbroken_end(ranges: Iterable[tuple[int, int]], start: int) -> int | None:
    """Where the run of (start, end) byte ranges, sorted by start, that covers `start`
    ends; None when none reaches past `start`."""
    end = start
    for first, last in ranges:
        if first > end:
            break
        end = max(end, last)
    return end if end > start else None


class Store(Protocol):
    """A metrics store: applies batches exactly once, answers merged queries."""

    def write_batch(self, batch: Batch) -> bool:
        """Apply a batch in one transaction; False when its id was already applied."""
        ...

    def committed_end(self, source_id: str, start: int = 0) -> int | None:
        """The end of the unbroken run of stored batches that covers `start`, None when
        no stored batch reaches past it. Batches are stored out of order (several are in
        flight at once), so the furthest end alone may lie beyond a range never stored."""
        ...

    def query(self, query: Query) -> list[Row]:
        """Merged rows for a query, grouped and/or bucketed as it asks."""
        ...

    def coverage(self, query: Query) -> Coverage:
        """The range of data under the query's filters, ignoring its time range."""
        ...

    def refresh_rollups(self, settled_before: float | None = None, limit: int | None = None,
                        passed_only: bool = False) -> int:
        """Rebuild the rollups of dirty hours (store/rollup.py): those last written before
        `settled_before` when given, and with `passed_only` before the newest mark, at most
        `limit`; returns the hours rebuilt."""
        ...

    def drop_before(self, epoch: float, dry_run: bool = False) -> int:
        """Retention: remove whole days of points before `epoch`; returns points removed
        (that would be, in a dry run)."""
        ...

    def downsample_before(self, epoch: float, dry_run: bool = False,
                          start: float = 0) -> Downsampled:
        """Fold the minute points of each whole hour from `start` to `epoch` into one point
        per series at the hour's start (counters added, histograms merged exactly), one hour
        per transaction, safe beside writers; from then on `coverage` reports the time
        before which points are hourly."""
        ...

    def reclaim(self) -> None:
        """Give the space freed by drops and folds back to the file system, where the
        database can (SQLite: incremental vacuum; PostgreSQL's autovacuum does it)."""
        ...

    def sources(self) -> list[SourceTotals]:
        """Every source the store holds, by name."""
        ...

    def samples(self, source: str | None = None) -> list[tuple[str, str]]:
        """Kept malformed-line samples as (source, line), of one source or all."""
        ...

    def forget_source(self, name: str) -> int:
        """Remove a source's points, rollups, malformed counts and ledger in one
        transaction (its lines can then be read again); returns the points removed."""
        ...

    def export(self) -> Dump:
        """Everything stored, for copying into another store."""
        ...

    def import_dump(self, dump: Dump, progress: Progress) -> bool:
        """Merge an export in one transaction; False when its ledger was already here."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


__all__ = ["DIMENSIONS", "FILTERS", "KEY_SEP", "Batch", "Coverage", "Downsampled", "Dump",
           "LedgerRow", "Point", "PointKey", "Position", "Progress", "Query", "Row",
           "SeriesKey", "SourceTotals", "Store", "StoredPoint", "claim_ledger", "group_series"]
