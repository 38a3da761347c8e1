"""The SQLite schema: its migrations, and the schema as they leave it.

A new database loads the snapshot (STATEMENTS) in one transaction instead of replaying
every step, as Rails loads schema.rb: a first `logctl ingest` spends milliseconds on its
schema instead of a tenth of a second importing sqlite_utils and replaying history. Each
statement is the text SQLite keeps in sqlite_master after the replay;
tests/store/test_sqlite.py checks the two stay identical (when a migration is added, it
fails and prints the statements to paste here). An older file replays the steps it
lacks."""

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from logctl.errors import StoreError
from logctl.metrics import sketch
from logctl.store import blocks
from logctl.store import sqlite_rollup as rollup
from logctl.store.migrations import Migration, pending

if TYPE_CHECKING:
    import sqlite_utils


VERSION = 9
POINTS_WITHOUT_ROWID = (
    'CREATE TABLE "points" (\n'
    '   "series_id" INTEGER REFERENCES "series"("id"),\n'
    '   "minute" INTEGER,\n'
    '   "count" INTEGER,\n'
    '   "errors" INTEGER,\n'
    '   "client_errors" INTEGER,\n'
    '   "bytes" INTEGER,\n'
    '   "latency_count" INTEGER,\n'
    '   "latency_sum" REAL,\n'
    '   "latency_max" REAL,\n'
    '   "hist" BLOB,\n'
    '   "first_ts" REAL,\n'
    '   "last_ts" REAL,\n'
    '   PRIMARY KEY ("minute", "series_id")\n'
    ') WITHOUT ROWID'
)
BLOCKS = (
    'CREATE TABLE "blocks" (\n'
    '   "minute" INTEGER NOT NULL,\n'
    '   "source" TEXT NOT NULL,\n'
    '   "points" INTEGER NOT NULL,\n'
    '   "count" INTEGER NOT NULL,\n'
    '   "errors" INTEGER NOT NULL,\n'
    '   "first_ts" REAL,\n'
    '   "last_ts" REAL,\n'
    '   "data" BLOB NOT NULL\n'
    ')'
)
BLOCKS_INDEX = 'CREATE UNIQUE INDEX "idx_blocks_minute_source" ON "blocks" ("minute", "source")'
# The blocks' own columns without their blobs: what totals, coverage and the count of points
# read, index only (a scan of the table itself reads every blob's pages).
BLOCKS_TOTALS = ('CREATE INDEX "idx_blocks_totals" ON "blocks" ("source", "first_ts",'
                 ' "last_ts", "points", "count", "errors")')
STATEMENTS = (
    'CREATE TABLE "meta" (\n'
    '   "key" TEXT PRIMARY KEY,\n'
    '   "value" TEXT\n'
    ')',
    'CREATE TABLE "series" (\n'
    '   "id" INTEGER PRIMARY KEY,\n'
    '   "source" TEXT NOT NULL,\n'
    '   "host" TEXT NOT NULL,\n'
    '   "method" TEXT NOT NULL,\n'
    '   "route" TEXT NOT NULL,\n'
    '   "status" INTEGER NOT NULL\n'
    ')',
    'CREATE UNIQUE INDEX "idx_series_source_host_method_route_status"\n'
    '    ON "series" ("source", "host", "method", "route", "status")',
    'CREATE TABLE "malformed" (\n'
    '   "source" TEXT,\n'
    '   "minute" INTEGER,\n'
    '   "count" INTEGER,\n'
    '   PRIMARY KEY ("source", "minute")\n'
    ')',
    'CREATE TABLE "malformed_samples" (\n'
    '   "id" INTEGER PRIMARY KEY,\n'
    '   "source" TEXT,\n'
    '   "line" TEXT\n'
    ')',
    'CREATE TABLE "batches" (\n'
    '   "batch_id" TEXT PRIMARY KEY,\n'
    '   "source" TEXT,\n'
    '   "source_id" TEXT,\n'
    '   "start_offset" INTEGER,\n'
    '   "end_offset" INTEGER,\n'
    '   "lines" INTEGER,\n'
    '   "committed_at" REAL\n'
    ')',
    'CREATE INDEX "idx_batches_source_id_end_offset"\n'
    '    ON "batches" ("source_id", "end_offset")',
    'CREATE TABLE "hour_points" (\n'
    '   "hour" INTEGER,\n'
    '   "series_id" INTEGER,\n'
    '   "count" INTEGER,\n'
    '   "errors" INTEGER,\n'
    '   "client_errors" INTEGER,\n'
    '   "bytes" INTEGER,\n'
    '   "latency_count" INTEGER,\n'
    '   "latency_sum" REAL,\n'
    '   "latency_max" REAL,\n'
    '   "hist" BLOB,\n'
    '   "first_ts" REAL,\n'
    '   "last_ts" REAL,\n'
    '   PRIMARY KEY ("hour", "series_id")\n'
    ')',
    'CREATE TABLE "source_points" (\n'
    '   "minute" INTEGER,\n'
    '   "source" TEXT,\n'
    '   "count" INTEGER,\n'
    '   "errors" INTEGER,\n'
    '   "client_errors" INTEGER,\n'
    '   "bytes" INTEGER,\n'
    '   "latency_count" INTEGER,\n'
    '   "latency_sum" REAL,\n'
    '   "latency_max" REAL,\n'
    '   "hist" BLOB,\n'
    '   "first_ts" REAL,\n'
    '   "last_ts" REAL,\n'
    '   PRIMARY KEY ("minute", "source")\n'
    ')',
    'CREATE TABLE "dirty_hours" (\n'
    '   "hour" INTEGER PRIMARY KEY,\n'
    '   "marked_at" REAL\n'
    ')',
    'CREATE TABLE "day_points" (\n'
    '   "day" INTEGER,\n'
    '   "series_id" INTEGER,\n'
    '   "count" INTEGER,\n'
    '   "errors" INTEGER,\n'
    '   "client_errors" INTEGER,\n'
    '   "bytes" INTEGER,\n'
    '   "latency_count" INTEGER,\n'
    '   "latency_sum" REAL,\n'
    '   "latency_max" REAL,\n'
    '   "hist" BLOB,\n'
    '   "first_ts" REAL,\n'
    '   "last_ts" REAL,\n'
    '   PRIMARY KEY ("day", "series_id")\n'
    ')',
    BLOCKS,
    BLOCKS_INDEX,
    BLOCKS_TOTALS,
)


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the schema to the newest version under the write lock, so two processes
    opening an old file at once upgrade it once. A new database loads the newest schema
    at once (the snapshot); an older one replays the steps it lacks with sqlite_utils; an
    up-to-date one (every open but the first) is only read: no write lock, and no
    sqlite_utils, whose import alone took a tenth of a second of every command."""
    try:
        if not pending(schema_version(conn), MIGRATIONS, str(path)):
            return
        conn.execute("BEGIN IMMEDIATE")
        steps = pending(schema_version(conn), MIGRATIONS, str(path))
        if steps == MIGRATIONS and steps[-1].version == VERSION:
            for statement in STATEMENTS:
                conn.execute(statement)
            record_version(conn, VERSION)
        elif steps:
            replay(conn, steps)
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.rollback()
        raise StoreError(f"cannot migrate the schema of {path}: {exc}") from None
    except StoreError:
        conn.rollback()
        raise


def replay(conn: sqlite3.Connection, steps: list[Migration]) -> None:
    """Apply migration steps in order inside the caller's transaction."""
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    for step in steps:
        step.apply(db)
        record_version(conn, step.version)


def record_version(conn: sqlite3.Connection, version: int) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                 (str(version),))


def schema_version(conn: sqlite3.Connection) -> int:
    """The version recorded in `meta`, 0 for a new (empty) database."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
                        ).fetchone():
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


MIGRATE_ROWS = 50_000
INSERT_BLOCK = ("INSERT INTO blocks (minute, points, count, errors, first_ts, last_ts, data,"
                " source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
POINT_COLUMNS = {
    "series_id": int, "minute": int, "count": int, "errors": int, "client_errors": int,
    "bytes": int, "latency_count": int, "latency_sum": float, "latency_max": float,
    "hist": bytes, "first_ts": float, "last_ts": float,
}


def _create_tables(db: "sqlite_utils.Database") -> None:
    """Migration 1: series, points, malformed lines and samples, the batch ledger."""
    db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db["series"].create(
        {"id": int, "source": str, "host": str, "method": str, "route": str, "status": int},
        pk="id", not_null={"source", "host", "method", "route", "status"}, if_not_exists=True)
    db["series"].create_index(["source", "host", "method", "route", "status"], unique=True,
                              if_not_exists=True)
    db["points"].create(POINT_COLUMNS, pk=("series_id", "minute"),
                        foreign_keys=[("series_id", "series", "id")], if_not_exists=True)
    db["points"].create_index(["minute"], if_not_exists=True)
    db["malformed"].create({"source": str, "minute": int, "count": int},
                           pk=("source", "minute"), if_not_exists=True)
    db["malformed_samples"].create({"id": int, "source": str, "line": str}, pk="id",
                                   if_not_exists=True)
    db["batches"].create(
        {"batch_id": str, "source": str, "source_id": str, "start_offset": int,
         "end_offset": int, "lines": int, "committed_at": float},
        pk="batch_id", if_not_exists=True)
    db["batches"].create_index(["source_id", "end_offset"], if_not_exists=True)


def _points_by_minute(db: "sqlite_utils.Database") -> None:
    """Migration 3: points keyed by (minute, series_id), without the separate minute index.

    Points arrive in time order, so each insert now appends to the one index instead of
    landing beside its series in (series_id, minute) order while a second index on minute
    is kept too: ingest's writes, the slowest part of its main thread, got faster and stay
    flat as the database grows. A time range reads the key's prefix as it read the minute
    index."""
    db["points_by_minute"].create(POINT_COLUMNS, pk=("minute", "series_id"),
                                  foreign_keys=[("series_id", "series", "id")])
    columns = ", ".join(POINT_COLUMNS)
    db.execute(f"INSERT INTO points_by_minute ({columns}) SELECT {columns} FROM points"
               " ORDER BY minute, series_id")
    db.execute("DROP TABLE points")
    db.execute("ALTER TABLE points_by_minute RENAME TO points")


def _points_without_rowid(db: "sqlite_utils.Database") -> None:
    """Migration 6: points stored in their (minute, series_id) key itself (WITHOUT ROWID).

    A rowid table kept each point twice, in the table and in the key's index: two B-tree
    inserts a point, and a sparse log (a point every few lines) paid them on every point.
    In the key alone: 9% less ingest time on a day of sparse logs and 12% less file."""
    columns = ", ".join(POINT_COLUMNS)
    db.execute(POINTS_WITHOUT_ROWID.replace('"points"', '"points_keyed"', 1))
    db.execute(f"INSERT INTO points_keyed ({columns}) SELECT {columns} FROM points"
               " ORDER BY minute, series_id")
    db.execute("DROP TABLE points")
    db.execute("ALTER TABLE points_keyed RENAME TO points")


def _compact_histograms(db: "sqlite_utils.Database") -> None:
    """Migration 7: points' histograms compact (sketch.compact: varint pairs, two or three
    bytes a pair) instead of int32 pairs (eight). On a sparse day, where a point holds a
    few lines, the histograms were half of each point's row. Rollups are packed dense
    already and stay as they are."""
    db.conn.create_function("hist_compact", 1, sketch.compact, deterministic=True)
    db.execute("UPDATE points SET hist = hist_compact(hist) WHERE hist IS NOT NULL")


def _points_in_blocks(db: "sqlite_utils.Database") -> None:
    """Migration 8: points packed a block per source and minute (store/blocks.py) instead
    of a row each. A sparse log (a point every few lines) paid a B-tree insert with twelve
    bound values a point, most of its ingest's writer, and ~56 bytes a point; a block is
    one row a minute. The rows are read in (source, minute) order and packed a few
    thousand minutes at a time."""
    for statement in (BLOCKS, BLOCKS_INDEX, BLOCKS_TOTALS):
        db.execute(statement)
    cursor = db.execute(
        "SELECT s.source, p.series_id, p.minute, p.count, p.errors, p.client_errors, p.bytes,"
        " p.latency_count, p.latency_sum, p.latency_max, p.hist, p.first_ts, p.last_ts"
        " FROM points p JOIN series s ON s.id = p.series_id ORDER BY s.source, p.minute")
    pending_rows: list[tuple] = []
    source = None
    while rows := cursor.fetchmany(MIGRATE_ROWS):
        for name, *row in rows:
            if name != source or (len(pending_rows) >= MIGRATE_ROWS
                                  and row[1] != pending_rows[-1][1]):
                _insert_blocks(db.conn, source, pending_rows)
                source, pending_rows = name, []
            pending_rows.append(tuple(row))
    _insert_blocks(db.conn, source, pending_rows)
    db.execute("DROP TABLE points")


def _insert_blocks(conn: sqlite3.Connection, source: str | None, rows: list[tuple]) -> None:
    if rows:
        conn.executemany(INSERT_BLOCK, [(*block, source) for block in blocks.encode(rows)])


MIGRATIONS: list[Migration] = [
    Migration(1, "series, points, malformed, samples, batch ledger", _create_tables),
    Migration(2, "rollups per series and hour and per source and minute, dirty hours",
              rollup.create_tables),
    Migration(3, "points keyed by (minute, series_id)", _points_by_minute),
    Migration(4, "rollups per series and day", rollup.create_day_points),
    Migration(5, "rollup histograms packed with varints", rollup.repack),
    Migration(6, "points without a rowid", _points_without_rowid),
    Migration(7, "point histograms packed with varints", _compact_histograms),
    Migration(8, "points packed a block per source and minute", _points_in_blocks),
    Migration(9, "rollup histograms with runs of empty bins", rollup.repack_runs),
]
