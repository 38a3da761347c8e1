"""SQLite's rollups (store/rollup.py): their tables, adding a batch to the rollups of the
clean hours it writes, marking dirty hours, rebuilding an hour's rollups from its point
blocks (summed per source as a batch's rows are, in a read snapshot, then applied in a
short write transaction), and retention.

A batch's points are summed per hour, day and minute (in C, beside the rows it upserts)
and added to the rollup rows of each hour it writes that is clean, in the batch's own
transaction: those hours stay clean and exact, and a first ingest leaves no hour to
rebuild (rebuilding a sparse day's hours, a GROUP BY through a temporary B-tree each, was
a third of its ingest's CPU). An hour already dirty is marked again instead, as any other
change to points marks it, and rebuilt later."""

import functools
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from logctl.metrics import dense, native, sketch
from logctl.store.block_points import batch_rollups, hour_blocks, hour_rollups
from logctl.store.rollup import DAY, HOUR
from logctl.store.sql import SQLITE

if TYPE_CHECKING:
    import sqlite_utils

# Marks only grow (by a microsecond at least), so a rebuild can tell from an unchanged mark
# that no batch touched its hour since the snapshot it read.
MARK_DIRTY = """
INSERT INTO dirty_hours (hour, marked_at) VALUES (?, ?)
ON CONFLICT (hour) DO UPDATE SET marked_at = max(excluded.marked_at, marked_at + 0.000001)
"""

def sums(hist: str) -> str:
    """The merge of a group of rollup rows, the histograms by `hist`."""
    return f"""sum(p.count), sum(p.errors), sum(p.client_errors), sum(p.bytes),
  sum(p.latency_count), total(p.latency_sum), max(p.latency_max), {hist}, min(p.first_ts),
  max(p.last_ts)"""


COLUMNS = """count, errors, client_errors, bytes, latency_count, latency_sum, latency_max, hist,
  first_ts, last_ts"""
HOUR_BLOCKS = hour_blocks(SQLITE)
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

# Rows are upserted this many to a statement: one step of SQLite's VM per 64 rows, not per
# row, and as few releases of the GIL (a statement's later rows meet the earlier ones as
# conflicts like any stored row's, so one key twice still merges).
ROWS_A_STATEMENT = 64
ONE_ROW = "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


@functools.cache
def _many(statement: str) -> str:
    return statement.replace(ONE_ROW, "VALUES " + ", ".join(
        [ONE_ROW.removeprefix("VALUES ")] * ROWS_A_STATEMENT))


def upsert(conn: sqlite3.Connection, statement: str, rows: list[tuple]) -> None:
    """Run a one-row upsert (of 12 columns) for every row, ROWS_A_STATEMENT rows a step."""
    joined, rest = native.chunked(rows, ROWS_A_STATEMENT)
    conn.executemany(_many(statement), joined)
    conn.executemany(statement, rest)


def adding(key: str, hist: str = "hist_add") -> str:
    """The upsert clause that adds an excluded rollup row to the stored one of its key, the
    histograms by the SQL function `hist`."""
    return f"""ON CONFLICT ({key}) DO UPDATE SET
  count = count + excluded.count, errors = errors + excluded.errors,
  client_errors = client_errors + excluded.client_errors, bytes = bytes + excluded.bytes,
  latency_count = latency_count + excluded.latency_count,
  latency_sum = latency_sum + excluded.latency_sum,
  latency_max = max(latency_max, excluded.latency_max), hist = {hist}(hist, excluded.hist),
  first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts)
"""


ADD_HOUR_POINTS = INSERT_HOUR_POINTS + adding("hour, series_id")
ADD_DAY_POINTS = INSERT_HOUR_POINTS.replace("hour_points (hour,", "day_points (day,") + adding(
    "day, series_id")
ADD_SOURCE_POINTS = INSERT_SOURCE_POINTS + adding("minute, source")


def mark_every_hour(table: str) -> str:
    """INSERT a dirty mark for every hour with points in `table` (keyed by minute): the
    `points` of the schema versions before 8, or the `blocks` after."""
    return f"""INSERT OR IGNORE INTO dirty_hours (hour, marked_at)
SELECT DISTINCT minute - (minute % {HOUR} + {HOUR}) % {HOUR}, 0 FROM {table}"""


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
    db.execute(mark_every_hour("points"))


def create_day_points(db: "sqlite_utils.Database") -> None:
    """Migration 4: the per-day rollup, empty: migration 5 marks every hour dirty, and the
    next refresh fills each day with its last hour."""
    db["day_points"].create({"day": int, "series_id": int, **COUNTER_COLUMNS},
                            pk=("day", "series_id"))


def repack(db: "sqlite_utils.Database") -> None:
    """Migration 5: rollup histograms packed with varints (metrics/dense.py) instead of
    int64 fields."""
    empty(db, "points")


def repack_runs(db: "sqlite_utils.Database") -> None:
    """Migration 9: rollup histograms with each run of empty bins packed in two bytes
    (metrics/dense.py), where an hour of a sparse series spent a byte on every empty bin
    between its fastest and slowest request."""
    empty(db, "blocks")


def empty(db: "sqlite_utils.Database", points: str) -> None:
    """Rollups are a cache of the points: a new packing empties them and marks every hour
    with points (in the `points` table of the schema) dirty; the next refresh rebuilds them
    in the new packing, and until then queries read points."""
    for table, _ in TIMES[:3]:
        db.execute(f"DELETE FROM {table}")
    db.execute(mark_every_hour(points))


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


def add_batch(conn: sqlite3.Connection, rows: list[tuple], source: str,
              hours: list[int]) -> None:
    """Keep the rollups of the hours a batch writes (its point rows, as upserted), inside
    its transaction: a clean hour's rollup rows get the batch's sums added, a dirty one is
    marked again."""
    dirty = {hour for (hour,) in conn.execute(
        "SELECT hour FROM dirty_hours WHERE hour IN (SELECT value FROM json_each(?))",
        (json.dumps(hours),))}
    mark_dirty(conn, sorted(dirty))
    clean = [hour for hour in hours if hour not in dirty]
    if clean:
        hour_rows, day_rows, source_rows = batch_rollups(rows, clean, source)
        for statement, each in ((ADD_HOUR_POINTS, hour_rows), (ADD_DAY_POINTS, day_rows),
                                (ADD_SOURCE_POINTS, source_rows)):
            upsert(conn, statement, each)


def hist_add() -> Callable[[bytes | None, bytes | None], bytes | None]:
    """The SQL function `hist_add`: in C where built (a batch adds to hundreds of stored
    rollup rows; a Python frame each was half the time of adding them)."""
    if sketch._sketch is None:
        return dense.add
    return functools.partial(sketch._sketch.add_dense, dense.LOW, dense.HIGH)


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
        hour_rows, source_rows = hour_rollups(conn.execute(HOUR_BLOCKS, (hour, hour + HOUR)),
                                              hour)
        return Rebuild(hour, marked[0], hour_rows, source_rows)
    finally:
        conn.execute("COMMIT")


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
