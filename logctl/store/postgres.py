"""The PostgreSQL store (scale-out): several storage processes on several hosts share one
database. Each batch is one READ COMMITTED transaction that first claims its id in the
ledger (a concurrent replay waits on that row and then skips), then upserts points with
INSERT ... ON CONFLICT DO UPDATE: counters add and histograms merge (SQL `hist_merge`) under
the row lock, so two writers touching one point never lose an update. Deadlocks and
serialization failures roll back and retry the whole transaction. Queries read rollups where
they are clean (store/rollup.py, store/postgres_rollup.py)."""

import operator
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
from logctl.metrics import native, sketch
from logctl.metrics.points import Point, point_from
from logctl.metrics.route import ROUTE_CAP, cap_routes
from logctl.store import downsample, redact
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
    group_series,
    unbroken_end,
)
from logctl.store.rollup import Part, batch_hours, due_hours, hours_of, plan
from logctl.store.sql import (
    LEDGER_RUN,
    POSTGRES,
    bucket_expr,
    coverage_sql,
    forget_statements,
    key_expr,
    malformed_sql,
    points_from,
    points_sql,
    source_totals,
)

UNKNOWN_MINUTE = -1
HOUR = 3600
MAX_SAMPLES_PER_SOURCE = 20
ATTEMPTS = 8
RETRYABLE = (pgerrors.SerializationFailure, pgerrors.DeadlockDetected,
             pgerrors.UniqueViolation, pgerrors.CheckViolation)
T = TypeVar("T")

POINT_COLUMNS = """series_id, minute, count, errors, client_errors, bytes, latency_count,
  latency_sum, latency_max, hist_bins, hist_counts, first_ts, last_ts"""
# A batch's points are copied into a staging table (one per connection, emptied at each
# commit), then merged into `points` by one statement: far fewer round trips and plans
# than one upsert per point.
STAGE = ("CREATE TEMP TABLE IF NOT EXISTS point_stage (LIKE points INCLUDING DEFAULTS)"
         " ON COMMIT DELETE ROWS")
COPY_STAGE = f"COPY point_stage ({POINT_COLUMNS}) FROM STDIN"
# Points of the minutes inside a batch (not its first or last, which the batches before and
# after it share) are nearly always new: they are copied straight into `points`, and only
# when one of them is already stored does the batch take the stage and the merge.
COPY_POINTS = f"COPY points ({POINT_COLUMNS}) FROM STDIN"
ROW_KEY = operator.itemgetter(0, 1)  # a point row's (series id, minute)
# The merge sorts the staged rows into key order: in memory, not in a temporary file.
MERGE_WORK_MEM = "64MB"
MERGE_POINTS = """
ON CONFLICT (series_id, minute) DO UPDATE SET
  count = p.count + excluded.count,
  errors = p.errors + excluded.errors,
  client_errors = p.client_errors + excluded.client_errors,
  bytes = p.bytes + excluded.bytes,
  latency_count = p.latency_count + excluded.latency_count,
  latency_sum = p.latency_sum + excluded.latency_sum,
  latency_max = greatest(p.latency_max, excluded.latency_max),
  (hist_bins, hist_counts) = (SELECT m.bins, m.counts FROM hist_merge(
      p.hist_bins, p.hist_counts, excluded.hist_bins, excluded.hist_counts) AS m),
  first_ts = least(p.first_ts, excluded.first_ts),
  last_ts = greatest(p.last_ts, excluded.last_ts)
"""
UPSERT_POINT = (f"INSERT INTO points AS p ({POINT_COLUMNS}) VALUES ({', '.join(['%s'] * 13)})"
                + MERGE_POINTS)
MERGE_STAGE = (f"INSERT INTO points AS p ({POINT_COLUMNS}) SELECT {POINT_COLUMNS} FROM point_stage"
               " ORDER BY series_id, minute" + MERGE_POINTS)
EXPORT_CHUNK = 5000
EXPORT_POINTS = """
SELECT s.source, s.host, s.method, s.route, s.status, p.minute, p.count, p.errors,
       p.client_errors, p.bytes, p.latency_count, p.latency_sum, p.latency_max, p.hist_bins,
       p.hist_counts, p.first_ts, p.last_ts
FROM points p JOIN series s ON s.id = p.series_id ORDER BY p.series_id, p.minute
"""
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
            edges, inner = self._point_lines(conn, batch)
            with conn.cursor() as cur:
                staged = edges if _copied_new(cur, inner) else edges + inner
                if staged:
                    conn.execute(STAGE)
                    conn.execute(f"SET LOCAL work_mem = '{MERGE_WORK_MEM}'")
                    with cur.copy(COPY_STAGE) as copy:
                        copy.write(staged)
                    cur.execute(MERGE_STAGE)
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

    def _point_lines(self, conn: psycopg.Connection, batch: Batch) -> tuple[str, str]:
        """COPY lines with routes capped and series ids resolved, in key order so two
        transactions lock shared points in the same order (no deadlock in the common case):
        those of the batch's first and last minutes, then the rest. Waiting groups become
        rows in C straight from their counters (each distinct path folded once); a key that
        two of them, or a group and a point, share is merged first (one statement cannot
        upsert a row twice)."""
        points, groups = batch.aggregate.split()
        folded = batch.aggregate.folded_paths()
        renames = self._cap_routes(conn, batch.source,
                                   {key[3] for key in points} | set(folded.values()))
        keys = [(batch.source, host, method, renames.get(route, route), status)
                for _, host, method, route, status in points]
        grouped = group_series(groups, folded, batch.source, renames)
        ids = self._series_ids(conn, list(dict.fromkeys([*keys, *grouped.values()])))
        rows = native.group_rows(groups, {key: ids[each] for key, each in grouped.items()},
                                 compact=False)
        rows += [copy_row((ids[key], point_key[0]), point)
                 for key, (point_key, point) in zip(keys, points.items(), strict=True)]
        rows.sort(key=ROW_KEY)
        rows = _merged(rows)
        minutes = {row[1] for row in rows}
        ends = {min(minutes, default=0), max(minutes, default=0)}
        return (copy_text([row for row in rows if row[1] in ends]),
                copy_text([row for row in rows if row[1] not in ends]))

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
        """One part of a query plan: merged points per (key, bucket)."""
        points: dict[tuple, Point] = {}
        for key, bucket, *counters in conn.execute(
                *points_sql(query, POSTGRES, part.table, part.spans)):
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
        def read(conn: psycopg.Connection) -> Coverage:
            first, last = conn.execute(*coverage_sql(query, POSTGRES)).fetchone()
            points = conn.execute("SELECT count(*) FROM points").fetchone()[0]
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
                return source_totals(lambda sql, params: conn.execute(sql, params).fetchall(),
                                     POSTGRES)
        return self._run("read", read)

    def forget_source(self, name: str) -> int:
        """Delete a source's data in one transaction; returns the points removed."""
        def forget(conn: psycopg.Connection) -> int:
            with conn.transaction():
                points, *_ = [conn.execute(sql, (name,)).rowcount
                              for sql in forget_statements(POSTGRES)]
                return points
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
            cursor.execute(EXPORT_POINTS)
            while rows := cursor.fetchmany(EXPORT_CHUNK):
                yield [stored_point(row) for row in rows]

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
                with conn.cursor() as cur:
                    cur.executemany(UPSERT_POINT, sorted(
                        point_row(ids[key], minute, point) for key, minute, point in chunk))
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
            return self._run("count points", lambda conn: conn.execute(
                "SELECT count(*) FROM points WHERE minute < %s", (cutoff,)).fetchone()[0])

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
            downsample.hours_to_fold(POSTGRES), (max(0, int(start)), cutoff)).fetchall())]
        before = after = 0
        for hour in hours:
            if dry_run:
                points, series = self._run("count points", lambda conn, h=hour: conn.execute(
                    downsample.hour_sizes(POSTGRES), (h, h + HOUR)).fetchone())
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
            rows = conn.execute(downsample.delete_hour("hist_bins, hist_counts", POSTGRES),
                                (hour, hour + HOUR)).fetchall()
            folded = downsample.fold((row[0], stored_values(row[1:])) for row in rows)
            with conn.cursor() as cur:
                cur.executemany(UPSERT_POINT, [point_row(series, hour, point)
                                               for series, point in folded.items()])
                malformed = conn.execute(downsample.delete_malformed_hour(POSTGRES),
                                         (hour, hour + HOUR)).fetchall()
                cur.executemany(UPSERT_MALFORMED, [
                    (source, hour, count)
                    for source, count in downsample.fold_counts(malformed).items()])
            rollup.mark_dirty(conn, [hour])
        return len(rows), len(folded)

    def reclaim(self) -> None:
        """Nothing to do by hand: a dropped partition's space is freed at once, and the
        rows a fold deletes are reused by autovacuum."""

    def close(self) -> None:
        """Close the pool's connections."""
        self.pool.close()


def _copied_new(cur: psycopg.Cursor, lines: str) -> bool:
    """Copy lines straight into `points` in a savepoint; False, with nothing written, when
    one of them is already stored (the caller merges them instead)."""
    if not lines:
        return True
    try:
        with cur.connection.transaction(), cur.copy(COPY_POINTS) as copy:
            copy.write(lines)
        return True
    except pgerrors.UniqueViolation:
        return False


def _merged(rows: list[tuple]) -> list[tuple]:
    """Point rows sorted by key with each run of one key merged into one row (one statement
    cannot upsert a row twice: the chunks a minute straddles, paths folding to one route),
    into points of our own: the batch's own points and groups are left as they were, for
    a write that is retried."""
    out: list[tuple] = []
    last = None
    for key, row in zip(map(ROW_KEY, rows), rows, strict=True):
        if key == last:
            point = point_from(row_counters(out[-1]), out[-1][9])
            point.merge(point_from(row_counters(row), row[9]))
            out[-1] = copy_row(key, point)
        else:
            out.append(row)
        last = key
    return out


def row_counters(row: tuple) -> tuple:
    """A point row's counters in `Point.counters` order."""
    return (*row[2:9], *row[10:])


def copy_row(key: tuple[int, int], point: Point) -> tuple:
    """A point as a point row of (series id, minute) `key`, its histogram packed."""
    counters = point.counters()
    return (*key, *counters[:7], point.encoded_hist(), *counters[7:])


def copy_text(rows: list[tuple]) -> str:
    """Point rows (series id, minute, seven counters, packed histogram, first, last) as
    lines of COPY's text format (numbers and {..} arrays need no escaping): in C where
    built, with no adapting of each field by psycopg."""
    if sketch._sketch is not None:
        return sketch.native(sketch._sketch.copy_lines, rows)
    return "".join(map(copy_line, rows))


def copy_line(row: tuple) -> str:
    """One point row as a COPY line, as `copy_text` writes it."""
    return "\t".join(sketch.pg_arrays(value) if i == 9 else repr(value)
                     for i, value in enumerate(row)) + "\n"


def point_row(series: int, minute: int, p: Point) -> tuple:
    """A point as UPSERT_POINT parameters, its histogram as sorted parallel arrays."""
    bins = sorted(p.hist)
    return (series, minute, p.count, p.errors, p.client_errors, p.bytes, p.latency_count,
            p.latency_sum, p.latency_max, bins, [p.hist[b] for b in bins], p.first, p.last)


def stored_point(row: tuple) -> StoredPoint:
    """An EXPORT_POINTS row as (series key, minute, point)."""
    return (row[0], row[1], row[2], row[3], row[4]), row[5], stored_values(row[6:])


def stored_values(values: tuple) -> Point:
    """A point from its stored columns (counters, histogram arrays, first and last)."""
    point = Point()
    (point.count, point.errors, point.client_errors, point.bytes, point.latency_count,
     point.latency_sum, point.latency_max, bins, counts, point.first, point.last) = values
    point.hist = dict(zip(bins, counts, strict=True))
    return point


def hist_sql(query: Query, part: Part) -> tuple[str, list]:
    """SELECT the merged histogram of each group and bucket of a query's part, as arrays
    of bins and counts (one row per group: a row per bin cost more to fetch than to sum)."""
    bins = "CROSS JOIN LATERAL unnest(p.hist_bins, p.hist_counts) AS h (bin, n)"
    body, params = points_from(query, POSTGRES, bins, part.table, part.spans)
    sql = (f"SELECT key, bucket, array_agg(bin ORDER BY bin), array_agg(n ORDER BY bin)"
           f" FROM (SELECT {key_expr(query, part.table.dims)} AS key,"
           f" {bucket_expr(query, part.table.time, part.table.seconds)} AS bucket, h.bin,"
           f" sum(h.n)::bigint AS n"
           f"{body} GROUP BY key, bucket, h.bin) AS merged GROUP BY key, bucket")
    return sql, params
