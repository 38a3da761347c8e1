"""SQLite's rollups (store/rollup.py): their tables, marking dirty hours, rebuilding an
hour's rollups with the histogram merge aggregate (computed in a read snapshot, then
applied in a short write transaction), and retention."""

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from logctl.store.rollup import DAY, HOUR
from logctl.store.sql import HIST_MERGE

if TYPE_CHECKING:
    import sqlite_utils

# Marks only grow (by a microsecond at least), so a rebuild can tell from an unchanged mark
# that no batch touched its hour since the snapshot it read.
MARK_DIRTY = """
INSERT INTO dirty_hours (hour, marked_at) VALUES (?, ?)
ON CONFLICT (hour) DO UPDATE SET marked_at = max(excluded.marked_at, marked_at + 0.000001)
"""

def sums(hist: str) -> str:
    """The merge of a group of point-shaped rows, the histograms by `hist`: minutes'
    sparse blobs by HIST_MERGE, rollups' dense ones by hist_sum_agg."""
    return f"""sum(p.count), sum(p.errors), sum(p.client_errors), sum(p.bytes),
  sum(p.latency_count), total(p.latency_sum), max(p.latency_max), {hist}, min(p.first_ts),
  max(p.last_ts)"""


SUMS = sums(HIST_MERGE)
COLUMNS = """count, errors, client_errors, bytes, latency_count, latency_sum, latency_max, hist,
  first_ts, last_ts"""
REBUILD_HOUR_POINTS = f"""
SELECT ?, p.series_id, {SUMS} FROM points p WHERE p.minute >= ? AND p.minute < ?
GROUP BY p.series_id
"""
REBUILD_SOURCE_POINTS = f"""
SELECT s.source, p.minute, {SUMS} FROM points p JOIN series s ON s.id = p.series_id
WHERE p.minute >= ? AND p.minute < ? GROUP BY s.source, p.minute
"""
# An hour of one source, or of one of a few: grouped by minute alone, the points arrive in
# primary key order (minute, series) and SQLite merges each minute as it streams past,
# where grouping by source and minute sorts the hour's points in a temporary B-tree first
# (a third of the time of the rebuild of a sparse hour).
REBUILD_ONE_SOURCE = f"""
SELECT ?, p.minute, {SUMS} FROM points p WHERE p.minute >= ? AND p.minute < ?
GROUP BY p.minute
"""
REBUILD_FEW_SOURCES = f"""
SELECT ?, p.minute, {SUMS} FROM points p WHERE p.minute >= ? AND p.minute < ?
AND p.series_id IN (SELECT id FROM series WHERE source = ?) GROUP BY p.minute
"""
FEW_SOURCES = 4  # beyond this many sources in an hour, one sorted pass beats a pass each
INSERT_HOUR_POINTS = f"""
INSERT INTO hour_points (hour, series_id, {COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
REBUILD_DAY_POINTS = f"""
INSERT INTO day_points (day, series_id, {COLUMNS})
SELECT ?, p.series_id, {sums("hist_sum_agg(p.hist)")}
FROM hour_points p WHERE p.hour >= ? AND p.hour < ? GROUP BY p.series_id
"""
INSERT_SOURCE_POINTS = f"""
INSERT INTO source_points (source, minute, {COLUMNS})
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
MARK_EVERY_HOUR = f"""
INSERT OR IGNORE INTO dirty_hours (hour, marked_at)
SELECT DISTINCT minute - (minute % {HOUR} + {HOUR}) % {HOUR}, 0 FROM points
"""
COUNTER_COLUMNS = {"count": int, "errors": int, "client_errors": int, "bytes": int,
                   "latency_count": int, "latency_sum": float, "latency_max": float,
                   "hist": bytes, "first_ts": float, "last_ts": float}
TIMES = (("hour_points", "hour"), ("day_points", "day"), ("source_points", "minute"),
         ("dirty_hours", "hour"))


def create_tables(db: "sqlite_utils.Database") -> None:
    """Migration 2: the rollup tables and the dirty-hour marks, every hour already holding
    points marked dirty so that the next refresh builds its rollups."""
    db["hour_points"].create({"hour": int, "series_id": int, **COUNTER_COLUMNS},
                             pk=("hour", "series_id"))
    db["source_points"].create({"minute": int, "source": str, **COUNTER_COLUMNS},
                               pk=("minute", "source"))
    db["dirty_hours"].create({"hour": int, "marked_at": float}, pk="hour")
    db.execute(MARK_EVERY_HOUR)


def create_day_points(db: "sqlite_utils.Database") -> None:
    """Migration 4: the per-day rollup, empty: migration 5 marks every hour dirty, and the
    next refresh fills each day with its last hour."""
    db["day_points"].create({"day": int, "series_id": int, **COUNTER_COLUMNS},
                            pk=("day", "series_id"))


def repack(db: "sqlite_utils.Database") -> None:
    """Migration 5: rollup histograms packed with varints (metrics/dense.py) instead of
    int64 fields. Rollups are a cache of the points, so they are emptied and every hour
    with points marked dirty: the next refresh rebuilds them in the new packing, and until
    then queries read points."""
    for table, _ in TIMES[:3]:
        db.execute(f"DELETE FROM {table}")
    db.execute(MARK_EVERY_HOUR)


def rebuild_day(conn: sqlite3.Connection, hour: int) -> None:
    """Rebuild the day rollup of an hour's day from its hour rollups, in the caller's write
    transaction after the hour's own, once no other hour of the day is dirty: a day is not
    read while one is, so rebuilding it for each of its hours (24 times for a day of logs)
    would only be redone by the last."""
    day = hour - hour % DAY
    if conn.execute("SELECT 1 FROM dirty_hours WHERE hour >= ? AND hour < ? AND hour != ?"
                    " LIMIT 1", (day, day + DAY, hour)).fetchone():
        return
    conn.execute("DELETE FROM day_points WHERE day = ?", (day,))
    conn.execute(REBUILD_DAY_POINTS, (day, day, day + DAY))


def mark_dirty(conn: sqlite3.Connection, hours: list[int]) -> None:
    """Mark hours dirty inside the caller's transaction (one row per hour, its time
    updated, so the storage service can wait for an hour to settle)."""
    now = time.time()
    conn.executemany(MARK_DIRTY, [(hour, now) for hour in hours])


def dirty_hours(conn: sqlite3.Connection) -> list[tuple[int, float]]:
    """Dirty hours and when each was last marked, oldest hour first."""
    return conn.execute("SELECT hour, marked_at FROM dirty_hours ORDER BY hour").fetchall()


@dataclass(frozen=True)
class Rebuild:
    """An hour's rollup rows computed from its points, and the dirty mark they answer."""

    hour: int
    marked_at: float
    hour_rows: list[tuple]
    source_rows: list[tuple]


def read_rebuild(conn: sqlite3.Connection, hour: int,
                 settled_before: float | None) -> Rebuild | None:
    """Compute a dirty hour's rollups in one read snapshot, taking no lock: readers run
    beside the writer and beside each other, so hours are rebuilt in parallel while batches
    are still written. None when the hour is clean, or was marked at or after
    `settled_before`."""
    conn.execute("BEGIN")
    try:
        marked = conn.execute("SELECT marked_at FROM dirty_hours WHERE hour = ?",
                              (hour,)).fetchone()
        if marked is None or (settled_before is not None and marked[0] >= settled_before):
            return None
        hour_rows = conn.execute(REBUILD_HOUR_POINTS, (hour, hour, hour + HOUR)).fetchall()
        return Rebuild(hour, marked[0], hour_rows, source_rows(conn, hour, hour_rows))
    finally:
        conn.execute("COMMIT")


def source_rows(conn: sqlite3.Connection, hour: int, hour_rows: list[tuple]) -> list[tuple]:
    """An hour's per-source minute rollups, read in the caller's snapshot; which sources the
    hour holds comes from its hour rows (their series ids), so the usual hour of one source
    is merged in one streaming pass."""
    ids = [row[1] for row in hour_rows]
    names = [name for (name,) in conn.execute(
        "SELECT DISTINCT source FROM series WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(ids),))]
    span = (hour, hour + HOUR)
    if len(names) == 1:
        return conn.execute(REBUILD_ONE_SOURCE, (names[0], *span)).fetchall()
    if len(names) <= FEW_SOURCES:
        return [row for name in names
                for row in conn.execute(REBUILD_FEW_SOURCES, (name, *span, name))]
    return conn.execute(REBUILD_SOURCE_POINTS, span).fetchall()


def apply_rebuild(conn: sqlite3.Connection, rebuild: Rebuild) -> bool:
    """Replace an hour's rollups with a rebuild and clear its mark, in one short write
    transaction, unless a batch marked the hour after the rebuild's snapshot: then its rows
    are stale, the hour stays dirty and a later refresh rebuilds it (False)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        hour = rebuild.hour
        marked = conn.execute("SELECT marked_at FROM dirty_hours WHERE hour = ?",
                              (hour,)).fetchone()
        if marked is None or marked[0] != rebuild.marked_at:
            conn.rollback()
            return False
        conn.execute("DELETE FROM hour_points WHERE hour = ?", (hour,))
        conn.executemany(INSERT_HOUR_POINTS, rebuild.hour_rows)
        conn.execute("DELETE FROM source_points WHERE minute >= ? AND minute < ?",
                     (hour, hour + HOUR))
        conn.executemany(INSERT_SOURCE_POINTS, rebuild.source_rows)
        rebuild_day(conn, hour)
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
