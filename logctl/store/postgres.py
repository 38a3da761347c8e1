"""The PostgreSQL store (scale-out): several storage processes on several hosts share one
database. Points are kept a block per source and minute (store/blocks.py), as SQLite keeps
them. Each batch is one READ COMMITTED transaction that first claims its id in the ledger
(a concurrent replay waits on that row and then skips), then locks the blocks stored
already for its minutes and merges into them, and copies in the rest
(`block_points.write_locked`), so two writers touching one minute never lose an update.
Deadlocks, serialization failures and a key another writer inserted first roll back and
retry the whole transaction. Queries read rollups where they are clean (store/rollup.py,
store/postgres_rollup.py) and decode blocks elsewhere."""

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import psycopg
from psycopg import errors as pgerrors
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from logctl.errors import DiskFull, StoreError
from logctl.metrics.points import Point, dense_point
from logctl.metrics.route import ROUTE_CAP, cap_routes
from logctl.store import block_points, downsample, redact
from logctl.store import postgres_rollup as rollup
from logctl.store import postgres_schema as schema
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
from logctl.store.rollup import Part, batch_hours, due_hours, hours_of, plan
from logctl.store.sql import (
    LEDGER_RUN,
    POINTS,
    POSTGRES,
    bucket_expr,
    forget_statements,
    key_expr,
    malformed_sql,
    points_from,
    points_sql,
)

UNKNOWN_MINUTE = -1
HOUR = 3600
MAX_SAMPLES_PER_SOURCE = 20
ATTEMPTS = 8
RETRYABLE = (pgerrors.SerializationFailure, pgerrors.DeadlockDetected,
             pgerrors.UniqueViolation, pgerrors.CheckViolation)
T = TypeVar("T")
EXPORT_CHUNK = 200  # blocks a chunk of an export
UPSERT_MALFORMED = """
INSERT INTO malformed AS m (source, minute, count) VALUES (%s, %s, %s)
ON CONFLICT (source, minute) DO UPDATE SET count = m.count + excluded.count
"""


class PostgresStore:
    """A Store on a PostgreSQL database (optionally in its own schema). Caches of series
    ids, known routes and partitions are per instance and guarded by a lock; they are
    dropped whenever a transaction fails, since it may have rolled back what they hold."""

    def __init__(self, dsn: str, route_cap: int = ROUTE_CAP, schema_name: str | None = None,
                 pool_size: int = 4, connect_timeout: float = 10.0) -> None:
        self.where = redact(dsn).split("?")[0] + (f" (schema {schema_name})" if schema_name else "")
        self.route_cap = route_cap
        options = {"options": f"-csearch_path={schema_name}"} if schema_name else {}
        self.pool = ConnectionPool(make_conninfo(dsn, **options), min_size=1,
                                   max_size=pool_size, kwargs={"autocommit": True}, open=False)
        self.lock = threading.Lock()
        self.series_ids: dict[SeriesKey, int] = {}
        self.routes: dict[str, set[str]] = {}
        self.partitions: set[int] = set()
        try:
            self.pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout:
            self.pool.close()
            raise StoreError(f"cannot connect to {self.where} within {connect_timeout:.0f}s: "
                             "is PostgreSQL running and the DSN right?") from None
        self._run("migrate", lambda conn: schema.migrate(conn, schema_name, self.where))

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        with self.pool.connection() as conn:
            yield conn

    def _run(self, what: str, work: Callable[[psycopg.Connection], T]) -> T:
        """Run `work` on a pooled connection, retrying the transient failures of concurrent
        writers with jittered backoff; any other database error becomes a StoreError."""
        for attempt in range(ATTEMPTS):
            try:
                with self._connection() as conn:
                    return work(conn)
            except RETRYABLE as exc:
                self._forget()
                if attempt == ATTEMPTS - 1:
                    raise StoreError(f"cannot {what} in {self.where} after {ATTEMPTS} attempts:"
                                     f" {exc}") from exc
                time.sleep(random.uniform(0, 0.01 * 2**attempt))
            except pgerrors.DiskFull as exc:
                self._forget()
                raise DiskFull(self.where) from exc
            except (psycopg.Error, PoolTimeout) as exc:
                self._forget()
                raise StoreError(f"cannot {what} in {self.where}: {exc}") from exc
        raise AssertionError("unreachable: the last attempt raises")

    def _forget(self) -> None:
        self.series_ids.clear()
        self.routes.clear()
        self.partitions.clear()

    def write_batch(self, batch: Batch) -> bool:
        """Apply a batch and record its id in one transaction (skip a known id)."""
        with self.lock:
            return self._run("write a batch", lambda conn: self._write(conn, batch))

    def _write(self, conn: psycopg.Connection, batch: Batch) -> bool:
        self._ensure_partitions(conn, {minute // schema.DAY * schema.DAY
                                       for minute in batch.aggregate.minutes()})
        with conn.transaction():
            p = batch.position
            claimed = conn.execute(
                "INSERT INTO batches (batch_id, source, source_id, start_offset, end_offset,"
                " lines, committed_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (batch_id) DO NOTHING RETURNING 1",
                (batch.batch_id, batch.source, p.source_id, p.start, p.end,
                 batch.aggregate.lines, time.time())).fetchone()
            if claimed is None:
                return False
            block_points.write_locked(conn, batch.source, block_points.batch_rows(
                batch, lambda routes: self._cap_routes(conn, batch.source, routes),
                lambda keys: self._series_ids(conn, keys)))
            rollup.mark_dirty(conn, batch_hours(batch))
            self._write_malformed(conn, batch)
        return True

    def _ensure_partitions(self, conn: psycopg.Connection, days: set[int]) -> None:
        missing = days - self.partitions
        if missing:
            self.partitions = schema.existing_partitions(conn)
            missing = days - self.partitions
        if missing:
            schema.create_partitions(conn, missing)
            self.partitions |= missing

    def _cap_routes(self, conn: psycopg.Connection, source: str,
                    routes: set[str]) -> dict[str, str]:
        """Renames that keep the source within the route cap. Only a batch bringing routes
        this process has not seen takes the source's lock and rereads its routes, so the cap
        holds across processes without serializing ordinary writes."""
        known = self.routes.get(source)
        if known is not None and routes <= known:
            return {}
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                      (f"logctl-routes:{source}",))
        rows = conn.execute("SELECT DISTINCT route FROM series WHERE source = %s", (source,))
        known = self.routes[source] = {route for (route,) in rows}
        return cap_routes(routes, known, self.route_cap)

    def _series_ids(self, conn: psycopg.Connection, keys: list[SeriesKey]) -> dict[SeriesKey, int]:
        missing = sorted(k for k in keys if k not in self.series_ids)
        if missing:
            columns = [list(column) for column in zip(*missing, strict=True)]
            unnest = ("unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::integer[])"
                      " AS k (source, host, method, route, status)")
            conn.execute("INSERT INTO series (source, host, method, route, status)"
                         f" SELECT * FROM {unnest} ORDER BY 1, 2, 3, 4, 5"
                         " ON CONFLICT DO NOTHING", columns)
            rows = conn.execute(
                "SELECT s.id, s.source, s.host, s.method, s.route, s.status FROM series s"
                f" JOIN {unnest} USING (source, host, method, route, status)", columns)
            for series, *key in rows:
                self.series_ids[tuple(key)] = series  # type: ignore[index]
        return {key: self.series_ids[key] for key in keys}

    def _write_malformed(self, conn: psycopg.Connection, batch: Batch) -> None:
        aggregate = batch.aggregate
        rows = sorted((batch.source, UNKNOWN_MINUTE if minute is None else minute, count)
                      for minute, count in aggregate.malformed.items())
        if rows:
            with conn.cursor() as cur:
                cur.executemany(UPSERT_MALFORMED, rows)
        if aggregate.samples:
            kept = conn.execute("SELECT count(*) FROM malformed_samples WHERE source = %s",
                                (batch.source,)).fetchone()[0]
            room = max(0, MAX_SAMPLES_PER_SOURCE - kept)
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO malformed_samples (source, line) VALUES (%s, %s)",
                                [(batch.source, line) for line in aggregate.samples[:room]])

    def committed_end(self, source_id: str, start: int = 0) -> int | None:
        """The end of the ledger's unbroken run of batches from `start` (None: none)."""
        return unbroken_end(self._run("read the ledger", lambda conn: conn.execute(
            LEDGER_RUN.replace("?", "%s"), (source_id, start)).fetchall()), start)

    def query(self, query: Query) -> list[Row]:
        """Merged rows: counters summed in SQL, histogram bins summed per group in SQL, both
        read in one snapshot so they describe the same points."""
        key_expr(query)
        rows = self._run("read", lambda conn: self._query(conn, query))
        return sorted(rows.values(), key=lambda r: (r.bucket or 0, str(r.key)))

    def _query(self, conn: psycopg.Connection, query: Query) -> dict[tuple, Row]:
        rows: dict[tuple, Row] = {}
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            dirty = [hour for hour, _ in rollup.dirty_hours(conn)]
            for part in plan(query, dirty):
                for key, point in self._read_part(conn, query, part).items():
                    if key in rows:
                        rows[key].point.merge(point)
                    else:
                        rows[key] = Row(*key, point)
            malformed = malformed_sql(query, UNKNOWN_MINUTE, POSTGRES)
            if malformed is not None:
                for key, bucket, count in conn.execute(*malformed):
                    rows.setdefault((key, bucket), Row(key, bucket)).malformed = count
        return rows

    def _read_part(self, conn: psycopg.Connection, query: Query,
                   part: Part) -> dict[tuple, Point]:
        """One part of a query plan: merged points per (key, bucket), decoded from blocks
        for stored minutes, summed in SQL for rollups."""
        points: dict[tuple, Point] = {}
        if part.table is POINTS:
            for row in block_points.query_rows(conn, query, part.spans, POSTGRES):
                points[row[:2]] = dense_point(row[2:11], row[11])
            return points
        for key, bucket, *counters in conn.execute(
                *points_sql(query, part.table, POSTGRES, part.spans)):
            p = points[(key, bucket)] = Point()
            (p.count, p.errors, p.client_errors, p.bytes, p.latency_count, p.latency_sum,
             p.latency_max, p.first, p.last) = counters
        if query.histograms:
            for key, bucket, bins, counts in conn.execute(*hist_sql(query, part)):
                points[(key, bucket)].hist = dict(zip(bins, counts, strict=True))
        return points

    def refresh_rollups(self, settled_before: float | None = None, limit: int | None = None,
                        passed_only: bool = False) -> int:
        """Rebuild the rollups of dirty hours (as `rollup.due_hours` picks them), one
        transaction per hour. Returns the hours rebuilt."""
        hours, cutoff = due_hours(self._run("read dirty hours", rollup.dirty_hours),
                                  settled_before, passed_only, limit)
        return sum(self._run("rebuild rollups", lambda conn, hour=hour: rollup.rebuild_hour(
            conn, hour, cutoff)) for hour in hours)

    def coverage(self, query: Query) -> Coverage:
        """First/last request time under the query's filters, and store totals."""
        first, last = block_points.first_and_last(
            query, lambda sources: self._run("read", lambda conn: block_points.coverage(
                conn, sources, POSTGRES)), self.query)

        def read(conn: psycopg.Connection) -> Coverage:
            points = block_points.stored_points(conn)
            batches = conn.execute("SELECT count(*) FROM batches").fetchone()[0]
            hourly = conn.execute("SELECT value::bigint FROM meta WHERE key = %s",
                                  (downsample.HOURLY_BEFORE,)).fetchone()
            return Coverage(first, last, points, batches, hourly[0] if hourly else None)
        return self._run("read", read)

    def samples(self, source: str | None = None) -> list[tuple[str, str]]:
        """Kept malformed-line samples as (source, line)."""
        sql = "SELECT source, line FROM malformed_samples"
        if source is None:
            return self._run("read", lambda conn: conn.execute(sql + " ORDER BY id").fetchall())
        return self._run("read", lambda conn: conn.execute(
            sql + " WHERE source = %s ORDER BY id", (source,)).fetchall())

    def sources(self) -> list[SourceTotals]:
        """Every source's totals, in one snapshot."""
        def read(conn: psycopg.Connection) -> list[SourceTotals]:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                return block_points.totals(conn, POSTGRES)
        return self._run("read", read)

    def forget_source(self, name: str) -> int:
        """Delete a source's data in one transaction; returns the points removed."""
        def forget(conn: psycopg.Connection) -> int:
            with conn.transaction():
                removed = block_points.stored_points(conn, " WHERE source = %s", (name,))
                for sql in forget_statements(POSTGRES, "DELETE FROM blocks WHERE source = %s"):
                    conn.execute(sql, (name,))
                return removed
        with self.lock:
            self.routes.pop(name, None)
        return self._run(f"remove {name!r}", forget)

    def export(self) -> Dump:
        """Everything stored, for `logctl migrate`; points stream in chunks from a
        server-side cursor inside one snapshot."""
        def read(conn: psycopg.Connection) -> Dump:
            ledger = conn.execute("SELECT batch_id, source, source_id, start_offset,"
                                  " end_offset, lines, committed_at FROM batches").fetchall()
            malformed = conn.execute("SELECT source, minute, count FROM malformed").fetchall()
            samples = conn.execute("SELECT source, line FROM malformed_samples ORDER BY id")
            return Dump(ledger, schema.existing_partitions(conn), malformed, samples.fetchall(),
                        self._export_points())
        return self._run("read", read)

    def _export_points(self) -> Iterator[list[StoredPoint]]:
        with (self._connection() as conn, conn.transaction(),
              conn.cursor(name="logctl_export") as cursor):
            series = {row[0]: row[1:] for row in conn.execute(
                "SELECT id, source, host, method, route, status FROM series")}
            cursor.execute("SELECT minute, data FROM blocks ORDER BY minute, source")
            yield from block_points.export_chunks(cursor, series, EXPORT_CHUNK)

    def import_dump(self, dump: Dump, progress: Progress) -> bool:
        """Merge another store's contents in one transaction, exactly once: its ledger rows
        are claimed first (see claim_ledger), then points upsert as batches do."""
        with self.lock:
            return self._run("import", lambda conn: self._import(conn, dump, progress))

    def _import(self, conn: psycopg.Connection, dump: Dump, progress: Progress) -> bool:
        self._ensure_partitions(conn, dump.days)
        with conn.transaction() as tx:
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO batches (batch_id, source, source_id, start_offset,"
                                " end_offset, lines, committed_at) VALUES (%s, %s, %s, %s, %s,"
                                " %s, %s) ON CONFLICT (batch_id) DO NOTHING", dump.ledger)
                inserted = cur.rowcount
            if not claim_ledger(inserted, len(dump.ledger), self.where):
                raise psycopg.Rollback(tx)
            for chunk in dump.points:
                ids = self._series_ids(conn, sorted({key for key, _, _ in chunk}))
                block_points.write_sources(conn, block_points.dump_rows(chunk, ids),
                                           block_points.write_locked)
                rollup.mark_dirty(conn, hours_of(minute for _, minute, _ in chunk))
                progress(len(chunk))
            with conn.cursor() as cur:
                cur.executemany(UPSERT_MALFORMED, sorted(dump.malformed))
            self._import_samples(conn, dump.samples)
            return True
        return False

    def _import_samples(self, conn: psycopg.Connection, samples: list[tuple[str, str]]) -> None:
        for source in {source for source, _ in samples}:
            kept = conn.execute("SELECT count(*) FROM malformed_samples WHERE source = %s",
                                (source,)).fetchone()[0]
            lines = [(s, line) for s, line in samples if s == source]
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO malformed_samples (source, line) VALUES (%s, %s)",
                                lines[:max(0, MAX_SAMPLES_PER_SOURCE - kept)])

    def drop_before(self, epoch: float, dry_run: bool = False) -> int:
        """Retention: drop the day partitions that end at or before `epoch` (and malformed
        counts of those days); returns the points removed."""
        cutoff = int(epoch // schema.DAY) * schema.DAY
        if dry_run:
            return self._run("count points", lambda conn: block_points.stored_points(
                conn, " WHERE minute < %s", (cutoff,)))

        def drop(conn: psycopg.Connection) -> int:
            removed = schema.drop_partitions(conn, cutoff)
            conn.execute("DELETE FROM malformed WHERE minute < %s AND minute != %s",
                         (cutoff, UNKNOWN_MINUTE))
            return removed
        with self.lock:
            self.partitions.clear()
            return self._run("apply retention", drop)

    def downsample_before(self, epoch: float, dry_run: bool = False,
                          start: float = 0) -> Downsampled:
        """Fold each whole hour before `epoch` that still holds minute points, one
        transaction an hour."""
        cutoff = downsample.hour_cut(epoch)
        hours = [row[0] for row in self._run("find hours to fold", lambda conn: conn.execute(
            downsample.hours_to_fold(POSTGRES), (max(0, int(start)), cutoff)
        ).fetchall())]
        before = after = 0
        for hour in hours:
            if dry_run:
                points, series = self._run("count points", lambda conn, h=hour: (
                    block_points.hour_sizes(conn, h, POSTGRES)))
            else:
                points, series = self._run("downsample", lambda conn, h=hour: self._fold_hour(
                    conn, h))
            before, after = before + points, after + series
        if not dry_run:
            self._run("mark the hourly range", lambda conn: conn.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET"
                " value = greatest(meta.value::bigint, excluded.value::bigint)::text",
                (downsample.HOURLY_BEFORE, str(cutoff))))
        return Downsampled(len(hours), before, after)

    def _fold_hour(self, conn: psycopg.Connection, hour: int) -> tuple[int, int]:
        """One hour's minute points folded in one transaction: (points before, after)."""
        with conn.transaction():
            before, folded = block_points.fold_hour(conn, hour, POSTGRES)
            block_points.write_sources(conn, folded, block_points.write_locked)
            malformed = conn.execute(downsample.delete_malformed_hour(POSTGRES),
                                     (hour, hour + HOUR)).fetchall()
            with conn.cursor() as cur:
                cur.executemany(UPSERT_MALFORMED, [
                    (source, hour, count)
                    for source, count in downsample.fold_counts(malformed).items()])
            rollup.mark_dirty(conn, [hour])
        return before, len(folded)

    def reclaim(self) -> None:
        """Nothing to do by hand: a dropped partition's space is freed at once, and the
        rows a fold deletes are reused by autovacuum."""

    def close(self) -> None:
        """Close the pool's connections."""
        self.pool.close()


def hist_sql(query: Query, part: Part) -> tuple[str, list]:
    """SELECT the merged histogram of each group and bucket of a query's part, as arrays
    of bins and counts (one row per group: a row per bin cost more to fetch than to sum)."""
    bins = "CROSS JOIN LATERAL unnest(p.hist_bins, p.hist_counts) AS h (bin, n)"
    body, params = points_from(query, part.table, POSTGRES, bins, part.spans)
    sql = (f"SELECT key, bucket, array_agg(bin ORDER BY bin), array_agg(n ORDER BY bin)"
           f" FROM (SELECT {key_expr(query, part.table.dims)} AS key,"
           f" {bucket_expr(query, part.table.time, part.table.seconds)} AS bucket, h.bin,"
           f" sum(h.n)::bigint AS n"
           f"{body} GROUP BY key, bucket, h.bin) AS merged GROUP BY key, bucket")
    return sql, params
