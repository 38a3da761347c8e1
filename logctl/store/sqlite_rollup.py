"""SQLite's rollups (store/rollup.py): their tables, marking dirty hours, rebuilding an
hour's rollups with the histogram merge aggregate, and retention."""

import sqlite3
import time
from typing import TYPE_CHECKING

from logctl.store.rollup import HOUR

if TYPE_CHECKING:
    import sqlite_utils

MARK_DIRTY = """
INSERT INTO dirty_hours (hour, marked_at) VALUES (?, ?)
ON CONFLICT (hour) DO UPDATE SET marked_at = excluded.marked_at
"""
SUMS = """sum(p.count), sum(p.errors), sum(p.client_errors), sum(p.bytes), sum(p.latency_count),
  total(p.latency_sum), max(p.latency_max), hist_merge_agg(p.hist), min(p.first_ts),
  max(p.last_ts)"""
COLUMNS = """count, errors, client_errors, bytes, latency_count, latency_sum, latency_max, hist,
  first_ts, last_ts"""
REBUILD_HOUR_POINTS = f"""
INSERT INTO hour_points (hour, series_id, {COLUMNS})
SELECT ?, p.series_id, {SUMS} FROM points p WHERE p.minute >= ? AND p.minute < ?
GROUP BY p.series_id
"""
REBUILD_SOURCE_POINTS = f"""
INSERT INTO source_points (source, minute, {COLUMNS})
SELECT s.source, p.minute, {SUMS} FROM points p JOIN series s ON s.id = p.series_id
WHERE p.minute >= ? AND p.minute < ? GROUP BY s.source, p.minute
"""
TIMES = (("hour_points", "hour"), ("source_points", "minute"), ("dirty_hours", "hour"))


def create_tables(db: "sqlite_utils.Database") -> None:
    """Migration 2: the rollup tables and the dirty-hour marks, every hour already holding
    points marked dirty so that the next refresh builds its rollups."""
    counters = {"count": int, "errors": int, "client_errors": int, "bytes": int,
                "latency_count": int, "latency_sum": float, "latency_max": float,
                "hist": bytes, "first_ts": float, "last_ts": float}
    db["hour_points"].create({"hour": int, "series_id": int, **counters},
                             pk=("hour", "series_id"))
    db["source_points"].create({"minute": int, "source": str, **counters},
                               pk=("minute", "source"))
    db["dirty_hours"].create({"hour": int, "marked_at": float}, pk="hour")
    db.execute("INSERT INTO dirty_hours (hour, marked_at) SELECT DISTINCT"
               f" minute - (minute % {HOUR} + {HOUR}) % {HOUR}, 0 FROM points")


def mark_dirty(conn: sqlite3.Connection, hours: list[int]) -> None:
    """Mark hours dirty inside the caller's transaction (one row per hour, its time
    updated, so the storage service can wait for an hour to settle)."""
    now = time.time()
    conn.executemany(MARK_DIRTY, [(hour, now) for hour in hours])


def dirty_hours(conn: sqlite3.Connection) -> list[tuple[int, float]]:
    """Dirty hours and when each was last marked, oldest hour first."""
    return conn.execute("SELECT hour, marked_at FROM dirty_hours ORDER BY hour").fetchall()


def rebuild_hour(conn: sqlite3.Connection, hour: int, settled_before: float | None) -> bool:
    """Recompute one dirty hour's rollups from its points and clear its mark, in one
    write transaction: a batch committed before it is in the rollups, one after marks the
    hour again. False when the hour is clean, or was marked at or after `settled_before`."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        marked = conn.execute("SELECT marked_at FROM dirty_hours WHERE hour = ?",
                              (hour,)).fetchone()
        if marked is None or (settled_before is not None and marked[0] >= settled_before):
            conn.rollback()
            return False
        conn.execute("DELETE FROM hour_points WHERE hour = ?", (hour,))
        conn.execute(REBUILD_HOUR_POINTS, (hour, hour, hour + HOUR))
        conn.execute("DELETE FROM source_points WHERE minute >= ? AND minute < ?",
                     (hour, hour + HOUR))
        conn.execute(REBUILD_SOURCE_POINTS, (hour, hour + HOUR))
        conn.execute("DELETE FROM dirty_hours WHERE hour = ?", (hour,))
        conn.commit()
        return True
    except BaseException:
        conn.rollback()
        raise


def drop_before(conn: sqlite3.Connection, cutoff: int) -> None:
    """Retention, inside the caller's transaction: rollups and marks before an hour
    boundary go with the points they were built from."""
    for table, column in TIMES:
        conn.execute(f"DELETE FROM {table} WHERE {column} < ?", (cutoff,))
