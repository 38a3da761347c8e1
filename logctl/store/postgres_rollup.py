"""PostgreSQL's rollups (store/rollup.py): marking dirty hours, and rebuilding an hour's
rollups in SQL, histograms summed bin by bin."""

import time

import psycopg

from logctl.store.rollup import DAY, HOUR

COUNTERS = """sum(p.count)::bigint AS count, sum(p.errors)::bigint AS errors,
  sum(p.client_errors)::bigint AS client_errors, sum(p.bytes)::bigint AS bytes,
  sum(p.latency_count)::bigint AS latency_count,
  coalesce(sum(p.latency_sum), 0)::float8 AS latency_sum, max(p.latency_max) AS latency_max,
  min(p.first_ts) AS first_ts, max(p.last_ts) AS last_ts"""
IN_HOUR = "p.minute >= %(start)s AND p.minute < %(end)s"
MINUTES = "points p JOIN series s ON s.id = p.series_id"
# The rollup rows of `table` from the rows `rows` holds `within` a span: counters summed,
# histogram bins summed bin by bin.
REBUILD = f"""
INSERT INTO {{table}} ({{keys}}, count, errors, client_errors, bytes, latency_count,
                      latency_sum, latency_max, hist_bins, hist_counts, first_ts, last_ts)
SELECT {{keys}}, c.count, c.errors, c.client_errors, c.bytes, c.latency_count, c.latency_sum,
       c.latency_max, coalesce(h.bins, '{{{{}}}}'), coalesce(h.counts, '{{{{}}}}'), c.first_ts,
       c.last_ts
FROM (SELECT {{select}}, {COUNTERS}
      FROM {{rows}} WHERE {{within}} GROUP BY {{group}}) c
LEFT JOIN (
  SELECT {{keys}}, array_agg(b.bin ORDER BY b.bin) AS bins, array_agg(b.n ORDER BY b.bin) AS counts
  FROM (SELECT {{select}}, h.bin, sum(h.n)::bigint AS n
        FROM {{rows}}
        CROSS JOIN LATERAL unnest(p.hist_bins, p.hist_counts) AS h (bin, n)
        WHERE {{within}} GROUP BY {{group}}, h.bin) b
  GROUP BY {{keys}}) h USING ({{keys}})
"""
REBUILD_HOUR_POINTS = REBUILD.format(table="hour_points", keys="hour, series_id",
                                     select="%(start)s::bigint AS hour, p.series_id",
                                     group="p.series_id", rows=MINUTES, within=IN_HOUR)
REBUILD_SOURCE_POINTS = REBUILD.format(table="source_points", keys="minute, source",
                                       select="p.minute, s.source", group="p.minute, s.source",
                                       rows=MINUTES, within=IN_HOUR)
REBUILD_DAY_POINTS = REBUILD.format(table="day_points", keys="day, series_id",
                                    select="%(start)s::bigint AS day, p.series_id",
                                    group="p.series_id", rows="hour_points p",
                                    within="p.hour >= %(start)s AND p.hour < %(end)s")


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
    """Recompute one dirty hour's rollups from its points and delete the marks seen, in
    one REPEATABLE READ transaction: the marks and points read are one snapshot, a batch
    committed later keeps its own mark, and two rebuilds of one hour collide on the rollup
    rows (a serialization failure or unique violation, retried by the caller)."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        marks = conn.execute("SELECT id, marked_at FROM dirty_hours WHERE hour = %s",
                             (hour,)).fetchall()
        if not marks or (settled_before is not None
                         and max(marked for _, marked in marks) >= settled_before):
            return False
        span = {"start": hour, "end": hour + HOUR}
        conn.execute("DELETE FROM hour_points WHERE hour = %(start)s", span)
        conn.execute(REBUILD_HOUR_POINTS, span)
        conn.execute("DELETE FROM source_points WHERE minute >= %(start)s"
                     " AND minute < %(end)s", span)
        conn.execute(REBUILD_SOURCE_POINTS, span)
        rebuild_day(conn, hour)
        conn.execute("DELETE FROM dirty_hours WHERE id = ANY(%s)",
                     ([mark for mark, _ in marks],))
    return True
