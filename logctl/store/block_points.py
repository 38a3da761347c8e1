"""Points kept a block per source and minute (store/blocks.py), as both stores keep them:
writing a batch's point rows as blocks, and reading them back for queries, rollup
rebuilds, coverage, totals and retention.

SQL cannot see inside a block, so what it did over point rows is done over decoded rows:
SQL picks the blocks (by minute through the (minute, source) key, by source) and the
series a query's filters match, and the rows are summed per group key and bucket in C
(`_sketch.sums`), as the rollups of a batch are. The readers take a SQLite or psycopg
connection and the `Dialect` that spells its SQL; SQLite merges a block stored already
in its upsert (`write`), PostgreSQL under a row lock (store/postgres.py)."""

import itertools
import math
import operator
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from logctl.metrics import dense, native, sketch
from logctl.metrics.points import Point, PointKey, merge_point
from logctl.store import blocks, downsample
from logctl.store.base import (
    Batch,
    Query,
    Row,
    SeriesKey,
    SourceTotals,
    StoredPoint,
    group_series,
)
from logctl.store.rollup import DAY, HOUR
from logctl.store.sql import (
    SQLITE,
    Dialect,
    Span,
    key_expr,
    series_filters,
    source_totals,
    span_filter,
)

Connection = Any  # a sqlite3 or psycopg connection: both have execute(sql, params)

UPSERT_BLOCK = """
INSERT INTO blocks (minute, points, count, errors, first_ts, last_ts, data, source)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (minute, source) DO UPDATE SET
  data = block_merge(minute, data, excluded.data),
  points = block_size(block_merge(minute, data, excluded.data)),
  count = count + excluded.count, errors = errors + excluded.errors,
  first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts)
"""
LOCK_BLOCKS = ("SELECT minute, data FROM blocks WHERE source = %s AND minute = ANY(%s)"
               " ORDER BY minute FOR UPDATE")
UPDATE_BLOCK = """
UPDATE blocks SET data = %s, points = %s, count = count + %s, errors = errors + %s,
  first_ts = least(first_ts, %s), last_ts = greatest(last_ts, %s)
WHERE minute = %s AND source = %s
"""
COPY_BLOCKS = ("COPY blocks (minute, points, count, errors, first_ts, last_ts, data, source)"
               " FROM STDIN")
EVERYWHERE: tuple[Span, ...] = ((-math.inf, math.inf),)


def register(conn: sqlite3.Connection) -> None:
    """The SQL functions the block upsert calls."""
    conn.create_function("block_merge", 3, blocks.merge, deterministic=True)
    conn.create_function("block_size", 1, blocks.size, deterministic=True)


def batch_rows(batch: Batch, cap: Callable[[set[str]], dict[str, str]],
               series_ids: Callable[[list[SeriesKey]], Mapping[SeriesKey, int]]) -> list[tuple]:
    """A batch's points as point rows, with routes capped (`cap` gives the renames that
    keep the batch's routes within the source's cap) and series ids resolved by
    `series_ids`. Waiting groups (the fast
    engines', or a batch's from the wire) become rows in C, each distinct path folded once,
    with no Point made between; two rows of one key (paths that fold to one route, the two
    chunks a minute straddles) merge when they are packed, as a later batch's row would."""
    source = batch.source
    points, groups = batch.aggregate.split()
    folded = batch.aggregate.folded_paths()
    renames = cap({key[3] for key in points} | set(folded.values()))
    rows = _rows_of_points(source, points, renames, series_ids)
    if groups:
        series = group_series(groups, folded, source, renames)
        ids = series_ids(list(dict.fromkeys(series.values())))
        rows += native.group_rows(groups, {key: ids[each] for key, each in series.items()})
    return rows


def _rows_of_points(source: str, points: dict[PointKey, Point], renames: dict[str, str],
                    series_ids: Callable[[list[SeriesKey]], Mapping[SeriesKey, int]]
                    ) -> list[tuple]:
    if not renames:  # the usual case: every key is its own row, nothing to merge
        series = [(source, *key[1:]) for key in points]
        ids = series_ids(list(dict.fromkeys(series)))
        return [(ids[each], key[0], *point_values(p))
                for each, (key, p) in zip(series, points.items(), strict=True)]
    merged: dict[tuple[SeriesKey, int], Point] = {}
    for (minute, host, method, route, status), point in points.items():
        # a copy: merging into the batch's own point would count it twice were the write
        # retried (another process holding the lock)
        merge_point(merged, ((source, host, method, renames.get(route, route), status),
                             minute), point.copy())
    ids = series_ids(list(dict.fromkeys(each for each, _ in merged)))
    return [(ids[each], minute, *point_values(p)) for (each, minute), p in merged.items()]


def point_values(p: Point) -> tuple:
    """A point's columns after (series id, minute) in a point row, the histogram compact."""
    return (p.count, p.errors, p.client_errors, p.bytes, p.latency_count, p.latency_sum,
            p.latency_max, sketch.compact(p.encoded_hist()), p.first, p.last)


def dump_rows(chunk: Iterable[StoredPoint],
              ids: Mapping[SeriesKey, int]) -> Iterator[tuple[str, tuple]]:
    """An export's stored points as (source, point row) pairs, series ids from `ids`."""
    for key, minute, point in chunk:
        yield key[0], (ids[key], minute, *point_values(point))


def stored_values(values: tuple) -> Point:
    """A point from a point row's columns after (series id, minute)."""
    point = Point()
    (point.count, point.errors, point.client_errors, point.bytes, point.latency_count,
     point.latency_sum, point.latency_max, hist, point.first, point.last) = values
    point.set_encoded_hist(sketch.expand(hist))
    return point


def write(conn: sqlite3.Connection, source: str, rows: Sequence[tuple]) -> None:
    """A source's point rows (series id, minute, counters, compact histogram, first, last)
    added to its blocks: a block a minute, merged into one stored already."""
    conn.executemany(UPSERT_BLOCK, [(*block, source) for block in blocks.encode(rows)])


def write_sources(conn: Connection, rows: Iterable[tuple[str, tuple]],
                  add: Callable[[Connection, str, Sequence[tuple]], None] = write) -> None:
    """(source, point row) pairs of any sources added to their blocks, an `add` (the
    store's writer of one source's rows) each."""
    by_source: dict[str, list[tuple]] = {}
    for source, row in rows:
        by_source.setdefault(source, []).append(row)
    for source, each in by_source.items():
        add(conn, source, each)


def write_locked(conn: Connection, source: str, rows: Sequence[tuple]) -> None:
    """PostgreSQL's `write`: the blocks stored already for the batch's minutes are locked
    (in minute order, so two writers of one source lock alike) and merged in Python, the
    rest copied in. A writer that meets a block another one inserted first, uncommitted
    then, fails on the key and its transaction is retried, now merging."""
    made = blocks.encode(rows)
    stored = dict(conn.execute(LOCK_BLOCKS, (source, [block[0] for block in made])).fetchall())
    merged, fresh = [], []
    for minute, points, count, errors, first, last, data in made:
        if minute in stored:
            data = blocks.merge(minute, stored[minute], data)
            merged.append((data, blocks.size(data), count, errors, first, last, minute, source))
        else:
            fresh.append((minute, points, count, errors, first, last, data, source))
    with conn.cursor() as cur:
        if merged:
            cur.executemany(UPDATE_BLOCK, merged)
        if fresh:
            with cur.copy(COPY_BLOCKS) as copy:
                for block in fresh:
                    copy.write_row(block)


def point_rows(conn: Connection, spans: Sequence[Span] = EVERYWHERE,
               sources: Sequence[str] = (), dialect: Dialect = SQLITE) -> list[tuple]:
    """The point rows of the blocks whose minute lies in `spans` (of `sources`, all by
    default), a block's rows sorted by series."""
    return blocks.decode(conn.execute(*blocks_in(spans, sources, dialect)))


def blocks_in(spans: Sequence[Span], sources: Sequence[str],
              dialect: Dialect) -> tuple[str, list]:
    """SELECT (minute, data) of the blocks whose minute lies in `spans`, of `sources` (all
    when empty)."""
    where, params = span_filter("minute", spans, dialect)
    if sources:
        where.append(f"source IN ({dialect.params(len(sources))})")
        params += list(sources)
    sql = "SELECT minute, data FROM blocks" + (" WHERE " + " AND ".join(where) if where else "")
    return sql, params


def series_keys(conn: Connection, query: Query, dialect: Dialect = SQLITE) -> dict[int, object]:
    """Each series the query's filters match, and its group key (None without a grouping),
    as SQL spells the key for rollup rows."""
    where, params = series_filters(query, dialect)
    sql = f"SELECT s.id, {key_expr(query)} FROM series s" + (
        " WHERE " + " AND ".join(where) if where else "")
    return dict(conn.execute(sql, params).fetchall())


def query_rows(conn: Connection, query: Query, spans: Sequence[Span],
               dialect: Dialect = SQLITE) -> list[tuple]:
    """A query's points within `spans` summed per group key and bucket, shaped as
    sql.points_sql's rows: (key, bucket, counters, first, last, dense histogram; None
    when the query asks for no histograms)."""
    keys = series_keys(conn, query, dialect)
    if not keys:
        return []
    names: dict[object, int] = {}
    index = {series: names.setdefault(key, len(names)) for series, key in keys.items()}
    by_index = list(names)
    step = (query.step_minutes or 0) * 60
    keep = query.histograms
    return [(by_index[key], bucket if step else None, *counters, first, last,
             hist if keep else None)
            for bucket, key, *counters, hist, first, last in block_sums(
                conn, spans, query.sources, index, step, dialect)]


def block_sums(conn: Connection, spans: Sequence[Span], sources: Sequence[str],
               keys: dict[int, int], step: int, dialect: Dialect = SQLITE) -> list[tuple]:
    """`sums` of the points of the blocks in `spans` (of `sources`, all by default),
    decoded and summed in one native pass where built: a day of a sparse log is ~190k
    points, and a row made for each was most of a query over it."""
    selected = conn.execute(*blocks_in(spans, sources, dialect))
    if blocks._blocks is None:
        return sums(blocks.decode(selected), keys, step)
    return [(*row[:9], dense.pack_concat(row[9]), *row[10:])
            for row in blocks.sums(selected, keys, step)]


def sums(rows: list[tuple], keys: dict[int, int], step: int) -> list[tuple]:
    """Point rows summed per (bucket, key): `keys` maps a series id to its key (rows of
    other series are left out), the bucket cut to `step` seconds as SQL's integer division
    cuts it (0 without a step). Rows (bucket, key, counters, dense histogram, first,
    last); in C where built."""
    if sketch._sketch is not None:
        return sketch.native(sketch._sketch.sums, rows, keys, step, dense.LOW, dense.HIGH)
    return total_rows(((int(row[1] / step) * step if step else 0, keys[row[0]]), row[2:])
                      for row in rows if row[0] in keys)


def total_rows(keyed: Iterable[tuple[tuple, Sequence]]) -> list[tuple]:
    """(key, values) pairs, the values a point row's after its series and minute, summed per
    key as rows (*key, counters, dense histogram, first, last): the Python of the C sums
    (`_sketch.sums` and `rollups`)."""
    table: dict[tuple, list] = {}
    for key, values in keyed:
        total = table.get(key)
        if total is None:
            table[key] = [*values[:7], [values[7]], *values[8:]]
            continue
        for i in range(6):
            total[i] += values[i]
        total[6] = max(total[6], values[6])
        total[7].append(values[7])
        total[8], total[9] = min(total[8], values[8]), max(total[9], values[9])
    return [(*key, *total[:7], dense.pack_concat(b"".join(filter(None, total[7])) or None),
             float(total[8]), float(total[9])) for key, total in table.items()]


def batch_rollups(rows: list[tuple], hours: list[int], source: str
                  ) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Point rows of the minutes in `hours` (ascending) summed per (hour, series), (day,
    series) and (source, minute) as rollup rows, histograms packed dense as a rebuild packs
    them: in C where built."""
    if sketch._sketch is not None:
        return sketch.native(sketch._sketch.rollups, rows, hours, source, dense.LOW,
                             dense.HIGH)
    clean = set(hours)
    kept = [row for row in rows if row[1] - row[1] % HOUR in clean]
    return (total_rows(((row[1] - row[1] % HOUR, row[0]), row[2:]) for row in kept),
            total_rows(((row[1] - row[1] % DAY, row[0]), row[2:]) for row in kept),
            total_rows(((source, row[1]), row[2:]) for row in kept))


def hour_blocks(dialect: Dialect) -> str:
    """SELECT an hour's blocks (from and to the parameters) as (source, minute, data), a
    source's together, for `hour_rollups`."""
    p = dialect.param
    return (f"SELECT source, minute, data FROM blocks WHERE minute >= {p} AND minute < {p}"
            " ORDER BY source")


def hour_rollups(held: Iterable[tuple[str, int, bytes]],
                 hour: int) -> tuple[list[tuple], list[tuple]]:
    """An hour's rollup rows from its (source, minute, data) blocks, a source's together:
    its (hour, series) rows and its (source, minute) rows, each source's rows summed as a
    batch's are (`batch_rollups`)."""
    hour_rows: list[tuple] = []
    source_rows: list[tuple] = []
    for source, each in itertools.groupby(held, key=operator.itemgetter(0)):
        hours, _, minutes = batch_rollups(blocks.decode(row[1:] for row in each), [hour],
                                          source)
        hour_rows += hours
        source_rows += minutes
    return hour_rows, source_rows


def first_and_last(query: Query, of_sources: Callable[[Sequence[str]], tuple],
                   rows_of: Callable[[Query], list[Row]]) -> tuple[float | None, float | None]:
    """The first and last request time under the query's filters, whatever its range: a
    source's from its blocks' columns (`of_sources`, as `coverage` reads them), narrower
    filters' from the query's all-time summary (`rows_of`: the store's query, rollups
    where clean) instead of decoding every block."""
    if not query.filters_records:
        return of_sources(query.sources)
    whole = replace(query, start=None, end=None, group_by=None, step_minutes=None,
                    histograms=False)
    found = [row.point for row in rows_of(whole) if row.point.count]
    if not found:
        return None, None
    return min(p.first for p in found), max(p.last for p in found)


def export_chunks(cursor: Any, series: Mapping[int, SeriesKey],
                  per: int) -> Iterator[list[StoredPoint]]:
    """The stored points of a cursor over (minute, data) blocks, `per` blocks a chunk."""
    while chunk := cursor.fetchmany(per):
        yield [(series[row[0]], row[1], stored_values(row[2:])) for row in blocks.decode(chunk)]


def fold_hour(conn: Connection, hour: int,
              dialect: Dialect = SQLITE) -> tuple[int, list[tuple[str, tuple]]]:
    """Delete an hour's blocks (in the caller's transaction) and fold what was deleted into
    one point per series at the hour's start: (points before, (source, point row) pairs
    to write back)."""
    p = dialect.param
    held = conn.execute(f"DELETE FROM blocks WHERE minute >= {p} AND minute < {p}"
                        " RETURNING source, minute, data", (hour, hour + HOUR)).fetchall()
    source_of, rows = {}, []
    for source, minute, data in held:
        for row in blocks.decode([(minute, data)]):
            source_of[row[0]] = source
            rows.append(row)
    folded = downsample.fold((row[0], stored_values(row[2:])) for row in rows)
    return len(rows), [(source_of[series], (series, hour, *point_values(point)))
                       for series, point in folded.items()]


def hour_sizes(conn: Connection, hour: int, dialect: Dialect = SQLITE) -> tuple[int, int]:
    """An hour's points and its series (the points a fold of it leaves), for a dry run."""
    rows = point_rows(conn, ((hour, hour + HOUR),), dialect=dialect)
    return len(rows), len({row[0] for row in rows})


def coverage(conn: Connection, sources: Sequence[str] = (),
             dialect: Dialect = SQLITE) -> tuple[float | None, float | None]:
    """The first and last request time of `sources` (all by default), from the blocks'
    columns (SQLite reads them from an index only)."""
    where = f" WHERE source IN ({dialect.params(len(sources))})" if sources else ""
    return tuple(conn.execute(f"SELECT min(first_ts), max(last_ts) FROM blocks{where}",
                              list(sources)).fetchone())  # type: ignore[return-value]


def stored_points(conn: Connection, where: str = "", params: Iterable = ()) -> int:
    """How many points the blocks (WHERE `where`) hold."""
    return int(conn.execute(f"SELECT coalesce(sum(points), 0) FROM blocks{where}",
                            list(params)).fetchone()[0])


def totals(conn: Connection, dialect: Dialect = SQLITE) -> list[SourceTotals]:
    """Every source's totals, from the blocks' columns, malformed counts and the ledger."""
    isum = dialect.int_sum.format
    return source_totals(conn.execute, dialect, points_sql=(
        f"SELECT source, min(first_ts), max(last_ts), {isum('count')}, {isum('errors')}"
        " FROM blocks GROUP BY source"))
