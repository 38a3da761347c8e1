"""The SQLite store's points, kept a block per source and minute (store/blocks.py): writing
a batch's point rows as blocks, and reading them back for queries, rollup rebuilds,
coverage, totals and retention.

SQL cannot see inside a block, so what it did over point rows is done over decoded rows:
SQL picks the blocks (by minute through the (minute, source) index, by source) and the
series a query's filters match, and the rows are summed per group key and bucket in C
(`_sketch.sums`), as the rollups of a batch are."""

import math
import sqlite3
from collections.abc import Iterable, Sequence

from logctl.metrics import dense, sketch
from logctl.store import blocks
from logctl.store.base import Query, SourceTotals
from logctl.store.sql import Span, key_expr, series_filters, source_totals, span_filter

UPSERT_BLOCK = """
INSERT INTO blocks (minute, points, count, errors, first_ts, last_ts, data, source)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (minute, source) DO UPDATE SET
  data = block_merge(minute, data, excluded.data),
  points = block_size(block_merge(minute, data, excluded.data)),
  count = count + excluded.count, errors = errors + excluded.errors,
  first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts)
"""
SOURCE_TOTALS = ("SELECT source, min(first_ts), max(last_ts), sum(count), sum(errors)"
                 " FROM blocks GROUP BY source")
EVERYWHERE: tuple[Span, ...] = ((-math.inf, math.inf),)


def register(conn: sqlite3.Connection) -> None:
    """The SQL functions the block upsert calls."""
    conn.create_function("block_merge", 3, blocks.merge, deterministic=True)
    conn.create_function("block_size", 1, blocks.size, deterministic=True)


def write(conn: sqlite3.Connection, source: str, rows: Sequence[tuple]) -> None:
    """A source's point rows (series id, minute, counters, compact histogram, first, last)
    added to its blocks: a block a minute, merged into one stored already."""
    conn.executemany(UPSERT_BLOCK, [(*block, source) for block in blocks.encode(rows)])


def write_sources(conn: sqlite3.Connection, rows: Iterable[tuple[str, tuple]]) -> None:
    """(source, point row) pairs of any sources added to their blocks, a `write` each."""
    by_source: dict[str, list[tuple]] = {}
    for source, row in rows:
        by_source.setdefault(source, []).append(row)
    for source, each in by_source.items():
        write(conn, source, each)


def point_rows(conn: sqlite3.Connection, spans: Sequence[Span] = EVERYWHERE,
               sources: Sequence[str] = ()) -> list[tuple]:
    """The point rows of the blocks whose minute lies in `spans` (of `sources`, all by
    default), a block's rows sorted by series."""
    where, params = span_filter("minute", spans)
    if sources:
        where.append(f"source IN ({', '.join('?' * len(sources))})")
        params += list(sources)
    sql = "SELECT minute, data FROM blocks" + (" WHERE " + " AND ".join(where) if where else "")
    return blocks.decode(conn.execute(sql, params))


def series_keys(conn: sqlite3.Connection, query: Query) -> dict[int, object]:
    """Each series the query's filters match, and its group key (None without a grouping),
    as SQL spells the key for rollup rows."""
    where, params = series_filters(query)
    sql = f"SELECT s.id, {key_expr(query)} FROM series s" + (
        " WHERE " + " AND ".join(where) if where else "")
    return dict(conn.execute(sql, params).fetchall())


def query_rows(conn: sqlite3.Connection, query: Query, spans: Sequence[Span]) -> list[tuple]:
    """A query's points within `spans` summed per group key and bucket, shaped as
    sql.points_sql's rows: (key, bucket, counters, first, last, dense histogram)."""
    keys = series_keys(conn, query)
    if not keys:
        return []
    names: dict[object, int] = {}
    index = {series: names.setdefault(key, len(names)) for series, key in keys.items()}
    by_index = list(names)
    step = (query.step_minutes or 0) * 60
    rows = point_rows(conn, spans, query.sources)
    return [(by_index[key], bucket if step else None, *counters, first, last, hist)
            for bucket, key, *counters, hist, first, last in sums(rows, index, step)]


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


def coverage(conn: sqlite3.Connection, sources: Sequence[str] = ()) -> tuple[float | None,
                                                                     float | None]:
    """The first and last request time of `sources` (all by default), from the blocks'
    columns (index only)."""
    where = f" WHERE source IN ({', '.join('?' * len(sources))})" if sources else ""
    return conn.execute(f"SELECT min(first_ts), max(last_ts) FROM blocks{where}",
                        list(sources)).fetchone()


def stored_points(conn: sqlite3.Connection, where: str = "", params: Iterable = ()) -> int:
    """How many points the blocks (WHERE `where`) hold."""
    return conn.execute(f"SELECT coalesce(sum(points), 0) FROM blocks{where}",
                        list(params)).fetchone()[0]


def totals(conn: sqlite3.Connection) -> list[SourceTotals]:
    """Every source's totals, from the blocks' columns, malformed counts and the ledger."""
    return source_totals(conn.execute, points_sql=SOURCE_TOTALS)
