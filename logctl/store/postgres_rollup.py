"""PostgreSQL's rollups (store/rollup.py): marking dirty hours, and rebuilding an hour's
rollups: its hour and source rows summed from its point blocks as SQLite sums them (in C,
copied in), its day's rows from the day's hour rows in SQL, histograms summed bin by bin."""

import time

import psycopg

from logctl.metrics import dense, sketch
from logctl.store import block_points
from logctl.store.rollup import DAY, HOUR
from logctl.store.sql import POSTGRES

COUNTERS = """sum(p.count)::bigint AS count, sum(p.errors)::bigint AS errors,
  sum(p.client_errors)::bigint AS client_errors, sum(p.bytes)::bigint AS bytes,
  sum(p.latency_count)::bigint AS latency_count,
  coalesce(sum(p.latency_sum), 0)::float8 AS latency_sum, max(p.latency_max) AS latency_max,
  min(p.first_ts) AS first_ts, max(p.last_ts) AS last_ts"""
ROLLUP_COLUMNS = """count, errors, client_errors, bytes, latency_count, latency_sum,
  latency_max, hist_bins, hist_counts, first_ts, last_ts"""
COPY_HOUR_POINTS = f"COPY hour_points (hour, series_id, {ROLLUP_COLUMNS}) FROM STDIN"
COPY_SOURCE_POINTS = f"COPY source_points (source, minute, {ROLLUP_COLUMNS}) FROM STDIN"
HOUR_BLOCKS = block_points.hour_blocks(POSTGRES)
DAY_LOCK = ":logctl-rollup-day"
# A day's rollup rows from its hour rows: counters summed, histogram bins summed bin by bin.
REBUILD_DAY_POINTS = f"""
INSERT INTO day_points (day, series_id, {ROLLUP_COLUMNS})
SELECT c.day, c.series_id, c.count, c.errors, c.client_errors, c.bytes, c.latency_count,
       c.latency_sum, c.latency_max, coalesce(h.bins, '{{}}'), coalesce(h.counts, '{{}}'),
       c.first_ts, c.last_ts
FROM (SELECT %(start)s::bigint AS day, p.series_id, {COUNTERS}
      FROM hour_points p WHERE p.hour >= %(start)s AND p.hour < %(end)s
      GROUP BY p.series_id) c
LEFT JOIN (
  SELECT series_id, array_agg(b.bin ORDER BY b.bin) AS bins, array_agg(b.n ORDER BY b.bin) AS counts
  FROM (SELECT p.series_id, h.bin, sum(h.n)::bigint AS n
        FROM hour_points p
        CROSS JOIN LATERAL unnest(p.hist_bins, p.hist_counts) AS h (bin, n)
        WHERE p.hour >= %(start)s AND p.hour < %(end)s GROUP BY p.series_id, h.bin) b
  GROUP BY series_id) h USING (series_id)
"""


def rebuild_day(conn: psycopg.Connection, hour: int) -> None:
    """Rebuild the day rollup of an hour's day from its hour rollups, in the caller's
    transaction (after the hour's own)."""
    day = hour - hour % DAY
    span = {"start": day, "end": day + DAY}
    conn.execute("DELETE FROM day_points WHERE day = %(start)s", span)
    conn.execute(REBUILD_DAY_POINTS, span)


def mark_dirty(conn: psycopg.Connection, hours: list[int]) -> None:
    """Mark hours dirty inside the caller's transaction (one row each, inserted only)."""
    if hours:
        conn.execute("INSERT INTO dirty_hours (hour, marked_at) SELECT unnest(%s::bigint[]), %s",
                     (hours, time.time()))


def dirty_hours(conn: psycopg.Connection) -> list[tuple[int, float]]:
    """Dirty hours and when each was last marked, oldest hour first."""
    return conn.execute("SELECT hour, max(marked_at) FROM dirty_hours GROUP BY hour"
                        " ORDER BY hour").fetchall()


def rebuild_hour(conn: psycopg.Connection, hour: int, settled_before: float | None) -> bool:
    """Recompute one dirty hour's rollups from its point blocks and delete the marks seen, in
    one REPEATABLE READ transaction: the marks and points read are one snapshot, a batch
    committed later keeps its own mark, and two rebuilds of one hour collide on the rollup
    rows (a serialization failure or unique violation, retried by the caller).

    Rebuilds of one day's hours take turns (a session lock on the day, taken before the
    snapshot), so the day's rows are rebuilt once, by the rebuild that leaves none of its
    hours dirty, not again after every hour (a day of a sparse log: 24 growing sums)."""
    day_lock = (f"{DAY_LOCK}:{hour - hour % DAY}",)
    conn.execute("SELECT pg_advisory_lock(hashtext(current_setting('search_path') || %s))",
                 day_lock)
    try:
        return _rebuild_hour(conn, hour, settled_before)
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext(current_setting('search_path')"
                     " || %s))", day_lock)


def _rebuild_hour(conn: psycopg.Connection, hour: int, settled_before: float | None) -> bool:
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        marks = conn.execute("SELECT id, marked_at FROM dirty_hours WHERE hour = %s",
                             (hour,)).fetchall()
        if not marks or (settled_before is not None
                         and max(marked for _, marked in marks) >= settled_before):
            return False
        hour_rows, source_rows = block_points.hour_rollups(
            conn.execute(HOUR_BLOCKS, (hour, hour + HOUR)), hour)
        conn.execute("DELETE FROM hour_points WHERE hour = %s", (hour,))
        conn.execute("DELETE FROM source_points WHERE minute >= %s AND minute < %s",
                     (hour, hour + HOUR))
        with conn.cursor() as cur:
            for statement, rows in ((COPY_HOUR_POINTS, hour_rows),
                                    (COPY_SOURCE_POINTS, source_rows)):
                with cur.copy(statement) as copy:
                    copy.write(copy_lines(rows))
        day = hour - hour % DAY
        if not conn.execute("SELECT 1 FROM dirty_hours WHERE hour >= %s AND hour < %s"
                            " AND hour != %s LIMIT 1", (day, day + DAY, hour)).fetchone():
            rebuild_day(conn, hour)
        conn.execute("DELETE FROM dirty_hours WHERE id = ANY(%s)",
                     ([mark for mark, _ in marks],))
    return True


def copy_lines(rows: list[tuple]) -> str:
    """Rollup rows (two key columns, seven counters, dense histogram, first, last) as COPY
    text lines: in C where built."""
    if sketch._sketch is not None:
        return sketch.native(sketch._sketch.copy_rollup_lines, rows, dense.LOW, dense.HIGH)
    return "".join("\t".join(
        _copy_text(value) if i != 9 else _copy_arrays(dense.decode(value))
        for i, value in enumerate(row)) + "\n" for row in rows)


def _copy_text(value: object) -> str:
    if not isinstance(value, str):
        return repr(value)
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def _copy_arrays(hist: sketch.Histogram) -> str:
    bins = sorted(bin for bin, count in hist.items() if count)
    return (f"{{{','.join(map(str, bins))}}}\t"
            f"{{{','.join(str(hist[bin]) for bin in bins)}}}")
