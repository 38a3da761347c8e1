"""The Store contract, run against SQLite and PostgreSQL alike: exactly-once batches,
exact totals for every grouping, filter and step, the route cap, malformed lines,
histograms, concurrent writers, retention and schema migrations."""

import threading
from itertools import pairwise
from pathlib import Path

import psycopg
import pytest

from logctl.errors import StoreError
from logctl.formats.combined import CombinedParser
from logctl.metrics import sketch
from logctl.metrics.points import aggregate_lines
from logctl.metrics.route import OTHER
from logctl.store import block_points, postgres_schema, sqlite_schema
from logctl.store.base import Batch, Position, Query
from logctl.store.migrations import Migration
from logctl.store.sqlite import SQLiteStore
from logctl.synthetic import Truth, generate
from tests.metrics.test_engines import LatencySum, canonical
from tests.store.conftest import Backend, older_file, pg_backend, sqlite_backend
from tests.store.test_sqlite import SCANNED, scanned_batch

DATA = Path(__file__).parents[1] / "data" / "apache_logs.log"
APACHE_DAYS = [(1431820800, 1632, 0), (1431907200, 2893, 0), (1431993600, 2896, 0),
               (1432080000, 2578, 1)]


def batch(data: bytes, start: int, source: str = "apache", source_id: str = "f1") -> Batch:
    return Batch(source, Position(source_id, start, start + len(data)),
                 aggregate_lines(data, CombinedParser()))


def apache_batches() -> list[Batch]:
    """The real Apache sample as two batches of one file."""
    data = DATA.read_bytes()
    cut = len(b"".join(data.splitlines(keepends=True)[:5000]))
    return [batch(data[:cut], 0), batch(data[cut:], cut)]


def test_the_ledger_end_stops_at_a_range_not_stored_yet(store) -> None:
    """Batches land out of order when several are in flight: the ledger's end from an
    offset is where the unbroken run ends, never past a gap (resuming past it would lose
    the range in the gap)."""
    data = DATA.read_bytes()
    cuts = [0, *(len(b"".join(data.splitlines(keepends=True)[:n])) for n in (2000, 4000, 6000)),
            len(data)]
    parts = [batch(data[a:b], a) for a, b in pairwise(cuts)]
    for part in (parts[0], parts[2], parts[3]):  # parts[1] still in flight
        assert store.write_batch(part) is True
    assert store.committed_end("f1") == cuts[1]
    assert store.committed_end("f1", cuts[1]) is None  # nothing stored from the gap
    assert store.committed_end("f1", cuts[2]) == len(data)
    assert store.committed_end("f1", cuts[2] + 10) == len(data)  # inside a stored batch
    assert store.committed_end("f1", len(data)) is None
    assert store.write_batch(parts[1]) is True
    assert store.committed_end("f1") == len(data)
    assert total(store) == 9999


def counts(rows: list) -> dict:
    return {row.key: row.point.count for row in rows}


def total(store, **query) -> int:
    return sum(row.point.count for row in store.query(Query(**query)))


def route_lines(n: int, prefix: str = "/r") -> bytes:
    return b"".join(
        f'1.1.1.1 - - [10/Oct/2000:13:01:36 +0000] "GET {prefix}{i} HTTP/1.1" 200 10 "-" '
        f'"ua" 0.100\n'.encode() for i in range(n))


def test_batch_applies_once_and_ledger_reports_end(store) -> None:
    first, second = apache_batches()
    assert store.write_batch(first) is True
    assert store.write_batch(batch(DATA.read_bytes()[:first.position.end], 0)) is False
    assert store.committed_end("f1") == first.position.end
    assert store.write_batch(second) is True
    assert store.write_batch(second) is False
    assert store.committed_end("f1") == 2370789
    assert store.committed_end("other") is None
    (row,) = store.query(Query())
    p = row.point
    assert (p.count, p.errors, p.client_errors, p.bytes, row.malformed) == (
        9999, 3, 217, 2747282505, 1)
    assert store.coverage(Query()).batches == 2


@pytest.mark.parametrize(("dimension", "groups", "top"), [
    ("route", 1331, [("/favicon.ico", 807), ("/", 575), ("/style2.css", 546)]),
    ("status", 8, [("200", 9125), ("304", 445), ("404", 213)]),
    ("method", 4, [("GET", 9951), ("HEAD", 42), ("POST", 5)]),
    ("host", 1, [("", 9999)]),
    ("source", 1, [("apache", 9999)]),
    ("status_class", 4, [("2xx", 9170), ("3xx", 609), ("4xx", 217)]),
])
def test_group_by_each_dimension(store, dimension: str, groups: int, top: list) -> None:
    for each in apache_batches():
        store.write_batch(each)
    rows = store.query(Query(group_by=dimension))
    ranked = sorted(rows, key=lambda r: (-r.point.count, r.key))
    assert len(rows) == groups
    assert [(r.key, r.point.count) for r in ranked[:3]] == top
    assert sum(r.point.count for r in rows) == 9999
    assert sum(r.malformed for r in rows) == (1 if dimension == "source" else 0)


def test_rows_by_every_dimension_without_histograms(store) -> None:
    """What the Prometheus API reads: series by all their labels; without histograms the
    counters are the same and no histogram is merged."""
    truth = Truth()
    for each in synthetic_batches(3000, 400, truth):
        store.write_batch(each)
    by = "source,host,method,route,status"
    full = {r.key: r.point for r in store.query(Query(group_by=by))}
    bare = {r.key: r.point for r in store.query(Query(group_by=by, histograms=False))}
    assert len(full) == len(bare) == 246
    assert {k: p.counters() for k, p in bare.items()} == \
        {k: p.counters() for k, p in full.items()}
    assert all(p.hist == {} for p in bare.values())
    assert sum(sum(p.hist.values()) for p in full.values()) == len(truth.latencies_ms) == 3000
    assert sum(p.count for p in bare.values()) == truth.requests


def test_step_buckets_filters_and_coverage(store) -> None:
    for each in apache_batches():
        store.write_batch(each)
    days = store.query(Query(step_minutes=1440))
    assert [(r.bucket, r.point.count, r.malformed) for r in days] == APACHE_DAYS
    assert len(store.query(Query(step_minutes=60))) == 84
    assert total(store, statuses=["5xx"]) == 3
    assert total(store, statuses=["404", "5xx"]) == 216
    assert total(store, methods=["HEAD"]) == 42
    assert total(store, route_glob="/presentations/*") == 2304
    assert total(store, route_glob="/style?.css") == 546
    assert total(store, route_glob="/[a-f]*") == 3661
    assert total(store, sources=["nope"]) == 0
    assert total(store, start=1431907200, end=1431993600) == 2893
    assert total(store, start=1431907200 + 30, end=1431993600) == 2893
    coverage = store.coverage(Query())
    assert (coverage.first, coverage.last, coverage.points) == (1431857100.0, 1432155959.0, 5606)
    errors = store.coverage(Query(statuses=["5xx"]))
    assert (errors.first, errors.last) == (1431918334.0, 1432130716.0)


def test_route_cap_holds_across_store_instances(backend: Backend) -> None:
    a, b = backend.open(route_cap=3), backend.open(route_cap=3)
    a.write_batch(batch(route_lines(2), 0, "web"))
    b.write_batch(batch(route_lines(5), 1000, "web"))
    assert counts(a.query(Query(group_by="route"))) == {"/r0": 2, "/r1": 2, "/r2": 1, OTHER: 2}
    b.write_batch(batch(route_lines(3, "/other"), 2000, "api"))
    assert counts(b.query(Query(group_by="route", sources=["api"]))) == {
        "/other0": 1, "/other1": 1, "/other2": 1}
    a.close()
    b.close()


def test_malformed_counts_and_samples(store) -> None:
    good = route_lines(2)
    data = b"garbage one\n" + good + b"garbage two\n"
    store.write_batch(batch(data, 0, "web"))
    store.write_batch(batch(b"only garbage\n", 500, "web"))
    assert [(r.key, r.point.count, r.malformed) for r in store.query(Query(group_by="source"))] \
        == [("web", 2, 3)]
    assert store.query(Query(methods=["GET"]))[0].malformed == 0
    assert store.samples("web") == [("web", "garbage one"), ("web", "garbage two"),
                                    ("web", "only garbage")]


def synthetic_batches(lines: int, per_batch: int, truth: Truth) -> list[Batch]:
    """A generated log (with latencies) cut into batches that straddle minutes, so several
    batches write to the same (series, minute) points."""
    text = "".join(generate(lines, seed=7, per_minute=700, truth=truth)).encode()
    rows = text.splitlines(keepends=True)
    batches, offset = [], 0
    for i in range(0, len(rows), per_batch):
        data = b"".join(rows[i:i + per_batch])
        batches.append(batch(data, offset, "synth", "gen"))
        offset += len(data)
    return batches


def test_concurrent_writers_give_exact_totals(backend: Backend) -> None:
    truth = Truth()
    batches = synthetic_batches(6000, 450, truth)
    stores = [backend.open() for _ in range(4)]
    applied: list[bool] = []

    def writer(index: int) -> None:
        order = batches[index::4] + batches[::-1]  # its own share, then every batch again
        applied.extend(stores[index].write_batch(each) for each in order)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(batches), applied.count(True)) == (14, 14)
    (row,) = stores[0].query(Query())
    expected: sketch.Histogram = {}
    for ms in truth.latencies_ms:
        sketch.add(expected, ms)
    p = row.point
    exact = (truth.requests, truth.errors, truth.client_errors, truth.bytes)
    assert (p.count, p.errors, p.client_errors, p.bytes) == exact == (6000, 181, 253, 172811681)
    assert (p.latency_count, p.latency_sum) == (6000, sum(truth.latencies_ms))
    assert p.hist == expected
    assert stores[0].coverage(Query()).batches == 14
    for each in stores:
        each.close()


def test_histograms_and_rows_equal_between_stores(tmp_path: Path, pg_dsn: str,
                                                  pg_schema: str) -> None:
    sqlite_store = sqlite_backend(tmp_path / "m.db").open()
    pg_store = pg_backend(pg_dsn, pg_schema).open()
    for each in synthetic_batches(3000, 400, Truth()):
        assert sqlite_store.write_batch(each) is pg_store.write_batch(each) is True
    for query in (Query(), Query(group_by="route"), Query(group_by="status", step_minutes=1),
                  Query(step_minutes=2, methods=["GET"]), Query(route_glob="/api/*")):
        mine = [(r.key, r.bucket, r.point.as_tuple(), r.malformed)
                for r in sqlite_store.query(query)]
        theirs = [(r.key, r.bucket, r.point.as_tuple(), r.malformed)
                  for r in pg_store.query(query)]
        assert mine == theirs
    (row,) = pg_store.query(Query())
    assert round(sketch.quantile(row.point.hist, 0.99, row.point.latency_max), 6) == 191.728466
    sqlite_store.close()
    pg_store.close()


def test_retention_drops_whole_days_before_the_cutoff(store) -> None:
    for each in apache_batches():
        store.write_batch(each)
    assert store.drop_before(1431993600 + 3600) == 2524
    assert [(r.bucket, r.point.count) for r in store.query(Query(step_minutes=1440))] == [
        (1431993600, 2896), (1432080000, 2578)]
    assert store.drop_before(1431993600) == 0
    assert store.write_batch(apache_batches()[0]) is False  # the ledger still knows it


def test_store_writes_after_retention_recreate_days(store) -> None:
    first = batch(route_lines(2), 0, "web")
    store.write_batch(first)
    assert store.drop_before(971222400) == 2
    store.write_batch(batch(route_lines(3), 1000, "web"))
    assert total(store) == 3


def schema_version(backend: Backend) -> int:
    return int(backend.raw("SELECT value FROM meta WHERE key = 'schema_version'")[0][0])


def migrations_of(backend: Backend):
    return sqlite_schema if backend.name == "sqlite" else postgres_schema


def add_note(conn) -> None:
    conn.execute("ALTER TABLE series ADD COLUMN note TEXT")


def test_old_schema_is_upgraded_on_open(backend: Backend,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    module = migrations_of(backend)
    current = module.MIGRATIONS[-1].version
    old = backend.open()
    old.write_batch(batch(route_lines(2), 0, "web"))
    old.close()
    assert schema_version(backend) == current
    monkeypatch.setattr(module, "MIGRATIONS", [
        *module.MIGRATIONS, Migration(current + 1, "series notes (test only)", add_note)])
    upgraded = backend.open()
    assert schema_version(backend) == current + 1
    assert backend.raw("SELECT count(note) FROM series") == [(0,)]
    assert total(upgraded) == 2
    upgraded.close()


def test_newer_schema_is_refused(backend: Backend) -> None:
    backend.open().close()
    backend.raw("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    current = migrations_of(backend).MIGRATIONS[-1].version
    with pytest.raises(StoreError, match="schema version 99, newer than this logctl "
                                         rf"understands \({current}\): upgrade logctl"):
        backend.open()


def test_a_version_2_files_points_keep_their_data_through_every_migration(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A version-2 file (points keyed (series_id, minute), histograms int32 pairs) is
    migrated to blocks: every point reads back with its data, its histogram compact, and
    the points table is gone."""
    path = tmp_path / "v2.db"
    with older_file(path, monkeypatch, 2) as old:
        for each in apache_batches():
            old.write_batch(each)
        before = sorted(old.conn.execute("SELECT * FROM points"))
    store = SQLiteStore(path)
    assert sorted(block_points.point_rows(store.conn)) == [
        (*row[:9], sketch.compact(row[9]), *row[10:]) for row in before]
    assert not store.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE name = 'points'").fetchall()
    assert store.coverage(Query()).points == len(before) == 5606
    assert total(store) == 9999
    store.close()


def test_points_are_partitioned_by_day(pg_dsn: str, pg_schema: str) -> None:
    store = pg_backend(pg_dsn, pg_schema).open()
    for each in apache_batches():
        store.write_batch(each)
    tables = pg_backend(pg_dsn, pg_schema).raw(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'blocks'::regclass ORDER BY 1")
    assert tables == [("blocks_20150517",), ("blocks_20150518",), ("blocks_20150519",),
                      ("blocks_20150520",)]
    store.close()


def test_unreachable_postgres_is_one_clear_error() -> None:
    from logctl.store.postgres import PostgresStore

    with pytest.raises(StoreError, match=r"cannot connect to postgresql://postgres:\*\*\*@127\.0\.0\.1"
                                         r":1/test within 1s"):
        PostgresStore("postgresql://postgres:secret@127.0.0.1:1/test", connect_timeout=1)


def test_sources_list_each_source_and_forget_removes_one(store) -> None:
    for each in apache_batches():
        store.write_batch(each)
    store.write_batch(batch(b"not a log line\n", 0, source="junk", source_id="j1"))
    store.refresh_rollups()
    apache, junk = store.sources()
    assert (apache.name, apache.requests, apache.errors, apache.malformed, apache.lines,
            apache.batches, apache.source_ids) == ("apache", 9999, 3, 1, 10000, 2, ["f1"])
    assert (apache.first, apache.last) == (1431857100.0, 1432155959.0)
    assert (junk.name, junk.requests, junk.malformed, junk.first, junk.source_ids) == (
        "junk", 0, 1, None, ["j1"])
    assert store.forget_source("apache") == 5606
    assert [s.name for s in store.sources()] == ["junk"]
    assert store.query(Query(sources=["apache"])) == []
    assert store.committed_end("f1") is None
    for each in apache_batches():  # forgotten, its lines are stored again
        assert store.write_batch(each)
    point = store.query(Query(sources=["apache"]))[0].point
    assert (point.count, point.errors) == (9999, 3)
    assert store.forget_source("nothing-here") == 0


def hourly(store, **filters) -> list[tuple]:
    return [(r.key, r.bucket, r.point.count, r.point.errors, r.point.bytes, r.malformed)
            for r in store.query(Query(step_minutes=60, **filters))]


def test_downsampling_folds_minutes_into_hours_exactly(store) -> None:
    for each in apache_batches():
        store.write_batch(each)
    store.refresh_rollups()
    cut = 1431993600  # 2015-05-19T00:00Z: the first two days are folded
    by_hour, by_route = hourly(store), store.query(Query(group_by="route", end=cut))
    before = store.coverage(Query())
    planned = store.downsample_before(cut + 1800, dry_run=True)  # whole hours only
    assert store.coverage(Query()).points == before.points
    done = store.downsample_before(cut + 1800)
    assert done == planned
    # Every line of this sample lies in minute 5 of its hour: a fold moves each point to
    # the hour's start and merges none.
    assert (done.hours, done.points_before, done.points_after) == (38, 2524, 2524)
    after = store.coverage(Query())
    assert (after.points, after.hourly_before) == (before.points, cut)
    assert hourly(store) == by_hour
    store.refresh_rollups()
    assert hourly(store) == by_hour
    assert [(r.key, r.point.count) for r in store.query(Query(group_by="route", end=cut))] \
        == [(r.key, r.point.count) for r in by_route]
    assert store.downsample_before(cut).hours == 0


def points_where(backend: Backend, condition: str) -> int:
    """The stored points whose minute meets a condition, counted by their blocks."""
    return backend.raw(f"SELECT coalesce(sum(points), 0) FROM blocks WHERE {condition}")[0][0]


def test_downsampling_merges_the_minutes_of_each_series(backend: Backend) -> None:
    """A generated log, 20 lines a minute over five hours, with latencies: every figure of
    the whole range is the same after the fold, histograms included."""
    store, truth = backend.open(), Truth()
    text = "".join(generate(6000, seed=3, per_minute=20, truth=truth)).encode()
    store.write_batch(batch(text, 0, "synth", "gen"))
    store.refresh_rollups()
    (whole,) = store.query(Query())
    series_hours = backend.raw("SELECT count(*) FROM hour_points")[0][0]
    early = points_where(backend, "minute < 1748750400")
    done = store.downsample_before(1748736000 + 4 * 3600)  # the first four hours
    assert (done.hours, done.points_before, early) == (4, 3872, 3872)
    left = points_where(backend, "minute >= 1748750400")
    assert done.points_after + left == store.coverage(Query()).points
    assert done.points_after == backend.raw(
        "SELECT count(*) FROM hour_points WHERE hour < 1748750400")[0][0]
    assert series_hours == done.points_after + backend.raw(
        "SELECT count(*) FROM hour_points WHERE hour >= 1748750400")[0][0]
    (folded,) = store.query(Query())
    assert (folded.point.count, folded.point.errors, folded.point.bytes) == (
        truth.requests, truth.errors, truth.bytes)
    assert folded.point.hist == whole.point.hist
    assert (folded.point.latency_count, folded.point.latency_max) == (
        whole.point.latency_count, whole.point.latency_max)
    assert folded.point.latency_sum == pytest.approx(whole.point.latency_sum)
    store.close()


def test_retention_dry_run_counts_what_a_drop_removes(store) -> None:
    for each in apache_batches():
        store.write_batch(each)
    cut = 1431993600
    planned = store.drop_before(cut, dry_run=True)
    assert planned == store.drop_before(cut) == 2524
    assert store.drop_before(cut, dry_run=True) == 0


def test_downsampling_beside_a_writer_loses_nothing(backend: Backend) -> None:
    """Batches of a second source land in the hours being folded while the fold runs."""
    store, writer = backend.open(), backend.open()
    for each in apache_batches():
        store.write_batch(each)
    data = DATA.read_bytes().splitlines(keepends=True)
    pieces = [b"".join(data[i:i + 250]) for i in range(0, len(data), 250)]
    offsets = [0]
    for piece in pieces:
        offsets.append(offsets[-1] + len(piece))

    def write() -> None:
        for piece, start in zip(pieces, offsets, strict=False):
            writer.write_batch(batch(piece, start, source="late", source_id="l1"))

    thread = threading.Thread(target=write)
    thread.start()
    store.downsample_before(1432155959)
    thread.join()
    store.downsample_before(1432155959)
    for name in ("apache", "late"):
        (row,) = store.query(Query(sources=[name]))
        assert (row.point.count, row.point.errors, row.point.bytes) == (9999, 3, 2747282505)
    store.close()
    writer.close()


def test_a_version_3_postgres_schemas_points_are_packed_into_blocks(
        pg_dsn: str, pg_schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A version-3 schema (a row a point in day partitions of `points`, a foreign key to
    series, histograms as arrays) upgrades through migrations 4 and 5: every point reads
    back from its block with its data, `points` and `hist_merge` are gone, and queries
    answer as a store of today given the same batches."""
    backend = pg_backend(pg_dsn, pg_schema)
    with monkeypatch.context() as patched:
        patched.setattr(postgres_schema, "MIGRATIONS", postgres_schema.MIGRATIONS[:3])
        backend.open().close()
    today = SQLiteStore(tmp_path / "today.db")
    for each in apache_batches():
        today.write_batch(each)
    rows = block_points.point_rows(today.conn)
    write_version_3_points(pg_dsn, pg_schema, today, rows)
    assert backend.raw("SELECT count(*) FROM points") == [(5606,)]
    upgraded = backend.open()
    assert backend.raw("SELECT to_regclass('points'), to_regproc('hist_merge')") == [
        (None, None)]
    assert sorted(backend.raw("SELECT minute, data FROM blocks ORDER BY minute")) == sorted(
        today.conn.execute("SELECT minute, data FROM blocks").fetchall())
    assert upgraded.coverage(Query()).points == len(rows) == 5606
    assert routes(upgraded) == routes(today)
    assert total(upgraded) == 9999
    upgraded.close()
    today.close()


def write_version_3_points(dsn: str, schema: str, today: SQLiteStore,
                           rows: list[tuple]) -> None:
    """Point rows written as a version-3 PostgreSQL schema holds them, with the series of
    the store that made them, their hours marked dirty as its batches marked them."""
    with (psycopg.connect(dsn, autocommit=True, options=f"-csearch_path={schema}") as conn,
          conn.cursor() as cur):
        cur.executemany("INSERT INTO series (id, source, host, method, route, status)"
                        " VALUES (%s, %s, %s, %s, %s, %s)",
                        today.conn.execute("SELECT id, source, host, method, route, status"
                                           " FROM series").fetchall())
        for day in sorted({row[1] - row[1] % 86400 for row in rows}):
            cur.execute(f"CREATE TABLE points_{day} PARTITION OF points"
                        f" FOR VALUES FROM ({day}) TO ({day + 86400})")
        cur.executemany("INSERT INTO points VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                        " %s, %s, %s)", [(*row[:9], *hist_arrays(row[9]), *row[10:])
                                         for row in rows])
        cur.execute("INSERT INTO dirty_hours (hour, marked_at) SELECT DISTINCT"
                    " minute - minute % 3600, 0 FROM points")


def hist_arrays(compact: bytes | None) -> tuple[list[int], list[int]]:
    hist = sketch.decode(sketch.expand(compact))
    return sorted(hist), [hist[b] for b in sorted(hist)]


def routes(store) -> list[tuple]:
    return [(row.key, row.point.as_tuple()) for row in store.query(Query(group_by="route"))]


def test_waiting_groups_store_what_their_points_would(backend: Backend) -> None:
    """A batch whose scanner groups wait (written as rows from their counters) and the
    same batch made points answer alike, through folded routes, the route cap's OTHER and
    keys two chunks share; the batch's own points are left as they were."""
    store = backend.open(route_cap=3)
    chunks = [b"\n".join(SCANNED[:5]) + b"\n", b"\n".join(SCANNED[2:]) + b"\n",
              SCANNED[6].replace(b"/d/y", b"/e/z") + b"\n"]  # /d/y's key, past the cap too
    for source, make_points in (("grouped", False), ("made", True)):
        batch = scanned_batch(chunks)
        batch.source, batch.position = source, Position(source, 0, 1)
        if make_points:
            before = canonical(batch.aggregate)
        assert store.write_batch(batch)
        if make_points:
            assert canonical(batch.aggregate) == before
    asked = [store.query(Query(sources=[source], group_by="route", step_minutes=1))
             for source in ("grouped", "made")]
    assert [(row.key, row.bucket, LatencySum(row.point.latency_sum), row.point.count)
            for row in asked[0]] == [
        (row.key, row.bucket, row.point.latency_sum, row.point.count) for row in asked[1]]
    assert sorted({row.key for row in asked[0]}) == ["(other)", "/a/:id", "/b", "/c/x"]
    assert sum(row.point.count for row in asked[0]) == 11
    assert [row.point.count for row in asked[0] if row.key == "(other)"] == [2]
    store.close()


def test_a_batch_over_stored_minutes_adds_to_them(store) -> None:
    """The same log again under another file id lands on minutes already stored, inner
    minutes included (PostgreSQL copies those straight into points and, finding one
    stored, merges the batch instead): every point counts twice, none is duplicated."""
    for each in apache_batches():
        store.write_batch(each)
    once = store.query(Query(step_minutes=1))
    data = DATA.read_bytes()
    assert store.write_batch(batch(data, 0, source_id="f2"))
    twice = store.query(Query(step_minutes=1))
    assert [(row.bucket, row.point.count) for row in twice] == [
        (row.bucket, 2 * row.point.count) for row in once]
    assert sum(row.point.count for row in twice) == 2 * 9999
    assert len(twice) == len(once) == 84
    store.close()
