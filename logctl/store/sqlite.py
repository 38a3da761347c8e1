"""The SQLite store (the default): WAL, one writer connection, one transaction per batch.
Series live in their own table; a source's points of one minute are packed in one block
(store/blocks.py, read and written by store/block_points.py), merged with a registered
SQL function when a batch writes a minute stored already. Rollups are counters merged in
SQL with INSERT ... ON CONFLICT DO UPDATE; queries read them where they are clean
(store/rollup.py)."""

import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from logctl.errors import DiskFull, StoreError
from logctl.localdb import PAGE_SIZE, WAL_CHECKPOINT_PAGES
from logctl.metrics import dense
from logctl.metrics.points import dense_point
from logctl.metrics.route import ROUTE_CAP, cap_routes
from logctl.store import block_points, downsample
from logctl.store import sqlite_rollup as rollup
from logctl.store.base import (
    Batch,
    Coverage,
    Downsampled,
    Dump,
    Progress,
    Query,
    Row,
    SeriesKey,
    SourceTotals,
    StoredPoint,
    claim_ledger,
    unbroken_end,
)
from logctl.store.rollup import batch_hours, due_hours, hours_of, plan
from logctl.store.sql import (
    LEDGER_RUN,
    POINTS,
    SQLITE,
    forget_statements,
    malformed_sql,
    points_sql,
)
from logctl.store.sqlite_schema import migrate

BUSY_RETRIES = 5

DAY = 86400
HOUR = 3600
INCREMENTAL = 2  # PRAGMA auto_vacuum: pages freed are kept for incremental_vacuum
UNKNOWN_MINUTE = -1
MAX_SAMPLES_PER_SOURCE = 20

EXPORT_CHUNK = 200  # blocks a chunk of an export
UPSERT_MALFORMED = """
INSERT INTO malformed (source, minute, count) VALUES (?, ?, ?)
ON CONFLICT (source, minute) DO UPDATE SET count = count + excluded.count
"""


class HistSumAggregate:
    """SQL aggregate `hist_sum_agg(hist)`: the sum of a group of dense-packed rollup
    histograms, packed dense: big-integer additions, no per-bin work (and none at all for
    a group of one row, as a per-minute series mostly is)."""

    def __init__(self) -> None:
        self.first: bytes | None = None
        self.total: dense.DenseSum | None = None

    def step(self, blob: bytes) -> None:
        if self.first is None:
            self.first = blob
            return
        if self.total is None:
            self.total = dense.DenseSum()
            self.total.add(self.first)
        self.total.add(blob)

    def finalize(self) -> bytes | None:
        return self.first if self.total is None else self.total.packed()


def hist_sum_aggregate() -> type:
    """The class SQLite instantiates per group for `hist_sum_agg`: the native DenseSum
    where it was built (step and finalize in C: no Python frame per row), else the one
    above."""
    native = dense.native_sum()
    if native is None:
        return HistSumAggregate

    class NativeHistSum(native):  # type: ignore[misc, valid-type]
        bounds = (dense.LOW, dense.HIGH)

    return NativeHistSum


HIST_SUM = hist_sum_aggregate()


class SQLiteStore:
    """A Store on one SQLite file. Safe for several processes: writers serialize on the
    database lock (busy timeout), and the batch ledger makes a replay a no-op.

    `durable` makes each commit reach the disk before write_batch returns (synchronous =
    FULL): what a daemon acknowledges to a peer that then forgets the batch must survive
    a power loss. Without it (the embedded ingest, which re-reads from its checkpoint in
    the same database) a power loss may drop the last commits, never corrupt the file.
    `check` reads the whole file once (PRAGMA quick_check) and refuses a damaged one, as a
    daemon does before it accepts batches into it."""

    def __init__(self, path: Path, route_cap: int = ROUTE_CAP,
                 durable: bool = False, check: bool = False) -> None:
        self.path = path
        self.route_cap = route_cap
        self.conn = connect(path, durable)
        if check:
            verify(self.conn, path)
        self.series_ids: dict[SeriesKey, int] = {}
        self.routes: dict[str, set[str]] = {}
        self._readers: list[sqlite3.Connection] = []
        self._writing = threading.Lock()  # batches and rollup applies, in this process
        self._refreshing = threading.Lock()
        migrate(self.conn, path)

    def write_batch(self, batch: Batch) -> bool:
        """Apply a batch and record its id in one transaction (skip a known id). Another
        process holding the write lock past the busy timeout is waited out a few more
        times before the error reaches anyone."""
        for attempt in range(BUSY_RETRIES + 1):
            try:
                with self._writing:
                    return self._write(batch)
            except sqlite3.Error as exc:
                self.series_ids.clear()
                self.routes.clear()
                if is_full(exc):
                    raise DiskFull(str(self.path)) from exc
                if not is_busy(exc) or attempt == BUSY_RETRIES:
                    raise StoreError(f"cannot write to {self.path}: {exc}") from exc
                time.sleep(random.uniform(0, 0.05 * 2**attempt))
        raise AssertionError("unreachable")

    def _write(self, batch: Batch) -> bool:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            seen = conn.execute("SELECT 1 FROM batches WHERE batch_id = ?", (batch.batch_id,))
            if seen.fetchone():
                conn.rollback()
                return False
            rows = self._point_rows(batch)
            self._write_points(conn, batch.source, rows)
            self._keep_rollups(conn, rows, batch)
            self._write_malformed(batch)
            conn.execute(
                "INSERT INTO batches (batch_id, source, source_id, start_offset, end_offset,"
                " lines, committed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (batch.batch_id, batch.source, batch.position.source_id, batch.position.start,
                 batch.position.end, batch.aggregate.lines, time.time()),
            )
            conn.commit()
            return True
        except BaseException:
            conn.rollback()
            raise

    def _write_points(self, conn: sqlite3.Connection, source: str, rows: list[tuple]) -> None:
        """A batch's point rows into its source's blocks."""
        block_points.write(conn, source, rows)

    def _keep_rollups(self, conn: sqlite3.Connection, rows: list[tuple], batch: Batch) -> None:
        """A batch's part in the rollups: its sums added to those of the clean hours it
        writes, the dirty ones marked again."""
        rollup.add_batch(conn, rows, batch.source, batch_hours(batch))

    def _point_rows(self, batch: Batch) -> list[tuple]:
        """A batch's point rows, routes capped and series ids resolved."""
        source = batch.source
        return block_points.batch_rows(
            batch, lambda routes: cap_routes(routes, self._known_routes(source), self.route_cap),
            self._series_ids)

    def _known_routes(self, source: str) -> set[str]:
        if source not in self.routes:
            rows = self.conn.execute("SELECT DISTINCT route FROM series WHERE source = ?",
                                     (source,))
            self.routes[source] = {row[0] for row in rows}
        return self.routes[source]

    def _series_ids(self, keys: Iterable[SeriesKey]) -> dict[SeriesKey, int]:
        """The id cache, holding every key given: the missing are created and read back in
        two statements per source, not two per series (a new database meets hundreds of
        series in its first batch)."""
        ids = self.series_ids
        missing = {key for key in keys if key not in ids}
        if missing:
            self.conn.executemany("INSERT OR IGNORE INTO series (source, host, method, route,"
                                  " status) VALUES (?, ?, ?, ?, ?)", missing)
            for source in {key[0] for key in missing}:
                ids.update(((source, *key), series) for *key, series in self.conn.execute(
                    "SELECT host, method, route, status, id FROM series WHERE source = ?",
                    (source,)))
        return ids

    def _write_malformed(self, batch: Batch) -> None:
        aggregate = batch.aggregate
        self.conn.executemany(UPSERT_MALFORMED, [
            (batch.source, UNKNOWN_MINUTE if minute is None else minute, count)
            for minute, count in aggregate.malformed.items()
        ])
        if aggregate.samples:
            kept = self.conn.execute("SELECT count(*) FROM malformed_samples WHERE source = ?",
                                     (batch.source,)).fetchone()[0]
            room = max(0, MAX_SAMPLES_PER_SOURCE - kept)
            self.conn.executemany(
                "INSERT INTO malformed_samples (source, line) VALUES (?, ?)",
                [(batch.source, line) for line in aggregate.samples[:room]])

    def committed_end(self, source_id: str, start: int = 0) -> int | None:
        """The end of the ledger's unbroken run of batches from `start` (None: none)."""
        return unbroken_end(self.conn.execute(LEDGER_RUN, (source_id, start)), start)

    def query(self, query: Query) -> list[Row]:
        """Merged rows: SUMs in SQL, histograms merged by the aggregate functions, from the
        rollups where they are clean and points elsewhere, all in one read snapshot."""
        try:
            self.conn.execute("BEGIN")
            try:
                return self._query(query)
            finally:
                self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from exc

    def _query(self, query: Query) -> list[Row]:
        rows: dict[tuple, Row] = {}
        dirty = [hour for hour, _ in rollup.dirty_hours(self.conn)]
        for part in plan(query, dirty):
            found = (block_points.query_rows(self.conn, query, part.spans)
                     if part.table is POINTS else
                     self.conn.execute(*points_sql(query, part.table, spans=part.spans)))
            for row in found:
                key = row[:2]
                mine = rows.get(key)
                if mine is None:
                    rows[key] = Row(row[0], row[1], dense_point(row[2:11], row[11]))
                else:
                    mine.point.merge(dense_point(row[2:11], row[11]))
        malformed = malformed_sql(query, UNKNOWN_MINUTE)
        if malformed is not None:
            for key, bucket, count in self.conn.execute(*malformed):
                rows.setdefault((key, bucket), Row(key, bucket)).malformed = count
        return sorted(rows.values(), key=lambda r: (r.bucket or 0, str(r.key)))

    def refresh_rollups(self, settled_before: float | None = None, limit: int | None = None,
                        passed_only: bool = False) -> int:
        """Rebuild the rollups of dirty hours (as `rollup.due_hours` picks them). Safe beside
        `write_batch` on another thread: hours are computed on reader connections of their
        own, one per core at a time in parallel, and each applied in one short write
        transaction, so a writer waits for one hour's apply at most. Returns the hours
        rebuilt."""
        with self._refreshing:
            try:
                readers = self._rollup_readers()
                hours, cutoff = due_hours(rollup.dirty_hours(readers[0]), settled_before,
                                          passed_only, limit)
                rebuilt = 0
                for start in range(0, len(hours), len(readers)):
                    for rebuild in read_parallel(readers, hours[start:start + len(readers)],
                                                 cutoff):
                        with self._writing:
                            rebuilt += rebuild is not None and rollup.apply_rebuild(
                                readers[0], rebuild)
                return rebuilt
            except sqlite3.Error as exc:
                if is_full(exc):
                    raise DiskFull(str(self.path)) from exc
                raise StoreError(f"cannot rebuild the rollups of {self.path}: {exc}") from exc

    def _rollup_readers(self) -> list[sqlite3.Connection]:
        """The connections rollups are rebuilt on, opened on first use; the first also
        applies them (the writer's own connection stays with the writer's thread)."""
        if not self._readers:
            self._readers = [connect(self.path) for _ in range(os.cpu_count() or 1)]
        return self._readers

    def coverage(self, query: Query) -> Coverage:
        """First/last minute with data under the query's filters, and store totals."""
        first, last = block_points.first_and_last(
            query, lambda sources: block_points.coverage(self.conn, sources), self.query)
        points = block_points.stored_points(self.conn)
        batches = self.conn.execute("SELECT count(*) FROM batches").fetchone()[0]
        hourly = self.conn.execute("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?",
                                   (downsample.HOURLY_BEFORE,)).fetchone()
        return Coverage(first, last, points, batches, hourly[0] if hourly else None)


    def samples(self, source: str | None = None) -> list[tuple[str, str]]:
        """Kept malformed-line samples as (source, line)."""
        sql = "SELECT source, line FROM malformed_samples"
        if source is None:
            return list(self.conn.execute(sql + " ORDER BY id"))
        return list(self.conn.execute(sql + " WHERE source = ? ORDER BY id", (source,)))

    def sources(self) -> list[SourceTotals]:
        """Every source's totals, in one read snapshot."""
        try:
            self.conn.execute("BEGIN")
            try:
                return block_points.totals(self.conn)
            finally:
                self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from exc

    def forget_source(self, name: str) -> int:
        """Delete a source's data in one write transaction; returns the points removed."""
        try:
            with self._writing:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    removed = block_points.stored_points(self.conn, " WHERE source = ?",
                                                          (name,))
                    for sql in forget_statements(SQLITE, "DELETE FROM blocks WHERE source = ?"):
                        self.conn.execute(sql, (name,))
                    self.conn.commit()
                except BaseException:
                    self.conn.rollback()
                    raise
        except sqlite3.Error as exc:
            raise StoreError(f"cannot remove {name!r} from {self.path}: {exc}") from exc
        self.routes.pop(name, None)
        return removed

    def export(self) -> Dump:
        """Everything stored, for `logctl migrate`; points stream in chunks."""
        ledger = self.conn.execute("SELECT batch_id, source, source_id, start_offset,"
                                   " end_offset, lines, committed_at FROM batches").fetchall()
        days = {row[0] for row in self.conn.execute(
            f"SELECT DISTINCT minute / {DAY} * {DAY} FROM blocks")}
        malformed = self.conn.execute("SELECT source, minute, count FROM malformed").fetchall()
        return Dump(ledger, days, malformed, self.samples(), self._export_points())

    def _export_points(self) -> Iterator[list[StoredPoint]]:
        series = {row[0]: row[1:] for row in self.conn.execute(
            "SELECT id, source, host, method, route, status FROM series")}
        yield from block_points.export_chunks(self.conn.execute(
            "SELECT minute, data FROM blocks ORDER BY minute, source"), series, EXPORT_CHUNK)

    def import_dump(self, dump: Dump, progress: Progress) -> bool:
        """Merge another store's contents in one transaction, exactly once: its ledger rows
        go in first; if all were already here nothing changes (False), if only some were the
        stores overlap and merging would double count, so nothing changes either (error)."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            before = conn.total_changes
            conn.executemany("INSERT OR IGNORE INTO batches (batch_id, source, source_id,"
                             " start_offset, end_offset, lines, committed_at)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?)", dump.ledger)
            if not claim_ledger(conn.total_changes - before, len(dump.ledger), self.path):
                conn.rollback()
                return False
            for chunk in dump.points:
                ids = self._series_ids([key for key, _, _ in chunk])
                block_points.write_sources(conn, block_points.dump_rows(chunk, ids))
                rollup.mark_dirty(conn, hours_of(minute for _, minute, _ in chunk))
                progress(len(chunk))
            conn.executemany(UPSERT_MALFORMED, dump.malformed)
            self._import_samples(dump.samples)
            conn.commit()
        except BaseException:
            conn.rollback()
            self.series_ids.clear()
            raise
        return True

    def _import_samples(self, samples: list[tuple[str, str]]) -> None:
        for source in {source for source, _ in samples}:
            kept = self.conn.execute("SELECT count(*) FROM malformed_samples WHERE source = ?",
                                     (source,)).fetchone()[0]
            lines = [(s, line) for s, line in samples if s == source]
            self.conn.executemany("INSERT INTO malformed_samples (source, line) VALUES (?, ?)",
                                  lines[:max(0, MAX_SAMPLES_PER_SOURCE - kept)])

    def drop_before(self, epoch: float, dry_run: bool = False) -> int:
        """Retention: delete the points of whole days before `epoch` (the same day-aligned
        cut the PostgreSQL store makes by dropping partitions); returns points removed."""
        cutoff = int(epoch // DAY) * DAY
        if dry_run:
            return block_points.stored_points(self.conn, " WHERE minute < ?", (cutoff,))
        try:
            with self._writing:
                return self._drop(cutoff)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot apply retention to {self.path}: {exc}") from exc

    def _drop(self, cutoff: int) -> int:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            removed = block_points.stored_points(self.conn, " WHERE minute < ?", (cutoff,))
            self.conn.execute("DELETE FROM blocks WHERE minute < ?", (cutoff,))
            self.conn.execute("DELETE FROM malformed WHERE minute < ? AND minute != ?",
                              (cutoff, UNKNOWN_MINUTE))
            rollup.drop_before(self.conn, cutoff)
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        return removed

    def downsample_before(self, epoch: float, dry_run: bool = False,
                          start: float = 0) -> Downsampled:
        """Fold each whole hour before `epoch` that still holds minute points, one write
        transaction an hour (a writer waits for one hour's fold at most)."""
        cutoff = downsample.hour_cut(epoch)
        try:
            hours = [row[0] for row in self.conn.execute(
                downsample.hours_to_fold(), (max(0, int(start)), cutoff))]
            before = after = 0
            for hour in hours:
                if dry_run:
                    points, series = block_points.hour_sizes(self.conn, hour)
                else:
                    with self._writing:
                        points, series = self._fold_hour(hour)
                before, after = before + points, after + series
            if not dry_run:
                self._mark_hourly(cutoff)
        except sqlite3.Error as exc:
            if is_full(exc):
                raise DiskFull(str(self.path)) from exc
            raise StoreError(f"cannot downsample {self.path}: {exc}") from exc
        return Downsampled(len(hours), before, after)

    def _fold_hour(self, hour: int) -> tuple[int, int]:
        """One hour's minute points folded in one transaction: (points before, after)."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            before, folded = block_points.fold_hour(conn, hour)
            block_points.write_sources(conn, folded)
            malformed = conn.execute(downsample.delete_malformed_hour(),
                                     (hour, hour + HOUR)).fetchall()
            conn.executemany(UPSERT_MALFORMED, [
                (source, hour, count)
                for source, count in downsample.fold_counts(malformed).items()])
            rollup.mark_dirty(conn, [hour])
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return before, len(folded)

    def _mark_hourly(self, cutoff: int) -> None:
        """Record that points before `cutoff` are per hour (the latest cut-off wins)."""
        with self._writing:
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET"
                " value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                (downsample.HOURLY_BEFORE, str(cutoff)))

    def reclaim(self) -> None:
        """Return freed pages to the file system: an incremental vacuum (a file made before
        incremental vacuum was switched on is converted by one full VACUUM), then a WAL
        checkpoint that truncates the log."""
        try:
            with self._writing:
                if self.conn.execute("PRAGMA auto_vacuum").fetchone()[0] != INCREMENTAL:
                    self.conn.execute(f"PRAGMA auto_vacuum = {INCREMENTAL}")
                    self.conn.execute("VACUUM")
                # execute() steps the pragma once, freeing one page; a script runs it whole
                self.conn.executescript("PRAGMA incremental_vacuum;")
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot reclaim space in {self.path}: {exc}") from exc

    def close(self) -> None:
        """Close the connections."""
        for conn in self._readers:
            conn.close()
        self.conn.close()


def read_parallel(readers: list[sqlite3.Connection], hours: list[int],
                  settled_before: float | None) -> list[rollup.Rebuild | None]:
    """Read the rebuilds of up to one hour per reader, each on its own connection and
    thread: SQLite computes them with the GIL released."""
    if len(hours) == 1:
        return [rollup.read_rebuild(readers[0], hours[0], settled_before)]
    with ThreadPoolExecutor(len(hours), "rollup") as pool:
        return list(pool.map(rollup.read_rebuild, readers, hours,
                             [settled_before] * len(hours)))


def is_full(exc: sqlite3.Error) -> bool:
    """SQLITE_FULL: the disk (or the file system's quota) has no room for the write."""
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def is_busy(exc: sqlite3.Error) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection holds the lock."""
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc))


def connect(path: Path, durable: bool = False) -> sqlite3.Connection:
    """Open the database in WAL mode with the merge functions registered; `durable`
    syncs the WAL on every commit."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
        # In a new file, before its first page: the page size, and freed pages kept for
        # incremental vacuum, so a prune can shrink the file without rewriting it. Only
        # there: on a file in use, setting auto_vacuum waits for the write lock and then
        # takes it, and a reader opened beside a writer held up the writer's next batch.
        if not conn.execute("PRAGMA page_count").fetchone()[0]:
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            conn.execute(f"PRAGMA auto_vacuum = {INCREMENTAL}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        conn.execute("PRAGMA busy_timeout = 60000")
        # The points index outgrows the default 2 MB page cache within a few million lines,
        # and a checkpoint every 1,000 WAL pages came every few batches: commits slowed
        # down as the database grew. 64 MiB of cache at most, checkpoints every 64 MiB.
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    except sqlite3.Error as exc:
        if is_full(exc):  # opening writes too (the WAL index): a full disk says so
            raise DiskFull(str(path)) from None
        raise StoreError(f"cannot open database {path}: {exc}") from None
    except OSError as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from None
    block_points.register(conn)
    conn.create_aggregate("hist_sum_agg", 1, HIST_SUM)
    conn.create_function("hist_add", 2, rollup.hist_add(), deterministic=True)
    return conn


def verify(conn: sqlite3.Connection, path: Path) -> None:
    """StoreError naming the file unless SQLite's quick check finds it whole."""
    try:
        found = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.Error as exc:
        raise StoreError(f"damaged database {path}: {exc}") from None
    if found != ["ok"]:
        why = " ".join(" ".join(found).replace("*** in database main ***", "").split())
        raise StoreError(f"damaged database {path}: {why}")
