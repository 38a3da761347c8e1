"""Rollups answer exactly as the stored minutes do: every query, whichever hours are clean
or dirty, through later writes, rebuilds that fail, retention, copies and migrations, on
SQLite and PostgreSQL alike."""

import math
import tempfile
import threading
import uuid
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logctl.errors import StoreError, UsageError
from logctl.metrics import dense, sketch
from logctl.metrics.points import ChunkAggregate, Point
from logctl.store import block_points, open_store, postgres_rollup, sqlite_rollup, transfer
from logctl.store.base import DIMENSIONS, Batch, Position, Query
from logctl.store.postgres import PostgresStore
from logctl.store.rollup import (
    DAY,
    DAY_POINTS,
    HOUR_POINTS,
    SOURCE_POINTS,
    Part,
    due_hours,
    plan,
    whole_hours,
)
from logctl.store.sql import POINTS
from logctl.store.sqlite import SQLiteStore
from tests.conftest import PG_DSN
from tests.store.conftest import marking, older_file

T0 = 1748736000  # 2025-06-01T00:00:00Z: a day boundary
H = 3600
OPEN = (-math.inf, math.inf)
BACKENDS = ["sqlite", "postgres"]


@contextmanager
def fresh_store(kind: str) -> Iterator[Any]:
    """An empty store of a kind, removed afterwards (one per hypothesis example)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            store = SQLiteStore(Path(folder) / "m.db")
            yield store
            store.close()
        return
    schema = f"logctl_test_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(PG_DSN, schema_name=schema)
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def answer(store: Any, query: Query) -> list[tuple]:
    return [(r.key, r.bucket, r.point.as_tuple(), r.malformed) for r in store.query(query)]


def make_point(minute: int, latencies: list[float], count: int, seconds: int) -> Point:
    point = Point()
    point.count = count
    point.errors, point.client_errors, point.bytes = count // 3, count // 2, 1000 * count + 7
    for ms in latencies:
        sketch.add(point.hist, ms)
    point.latency_count = len(latencies)
    point.latency_sum = sum(latencies)
    point.latency_max = max(latencies, default=0.0)
    point.first, point.last = minute + seconds, minute + 59 - seconds // 2
    return point


# Latencies are whole or half milliseconds: their sums are exact in any order, so sums of
# sums compare equal to the one sum (floats added in another order may differ in the last
# bit, for points as for rollups).
latency = st.one_of(st.integers(0, 4000).map(float), st.integers(0, 200).map(lambda n: n / 2))
# Minutes and range bounds crowd the edges of hours, where off-by-one plans would show.
edge_minutes = st.one_of(st.sampled_from([0, 1, 58, 59]), st.integers(0, 59))
minutes = st.builds(lambda hour, minute: T0 + 3600 * hour + 60 * minute, st.integers(0, 25),
                    edge_minutes)
keys = st.tuples(minutes,
                 st.sampled_from(["", "h"]), st.sampled_from(["GET", "POST"]),
                 st.sampled_from(["/x", "/y", "/z"]), st.sampled_from([200, 404, 500, 503]))
points = st.builds(lambda key, lat, count, sec: (key, make_point(key[0], lat, count, sec)),
                   keys, st.lists(latency, max_size=4), st.integers(1, 9), st.integers(0, 59))
aggregates = st.builds(
    lambda pts, malformed: ChunkAggregate(dict(pts), malformed, [], 0),
    st.lists(points, min_size=1, max_size=20),
    st.dictionaries(st.one_of(st.none(), keys.map(lambda k: k[0])), st.integers(1, 3),
                    max_size=2))
# An operation: write a batch (of source a or b), rebuild dirty hours (all, or a few), or
# apply retention before a day boundary.
operations = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(["a", "b"]), aggregates),
    st.tuples(st.just("refresh"), st.sampled_from([None, 1, 3])),
    st.tuples(st.just("drop"), st.sampled_from([T0, T0 + 86400])),
)
edge_seconds = st.one_of(st.sampled_from([-61, -60, -1, 0, 1, 59, 60, 3479, 3480, 3481, 3539,
                                          3540, 3541]), st.integers(0, 3599))
bounds = st.one_of(st.none(), st.builds(lambda hour, second: T0 + 3600 * hour + second,
                                        st.integers(0, 26), edge_seconds))
queries = st.builds(
    Query, start=bounds, end=bounds,
    sources=st.sampled_from([(), ("a",), ("b", "a")]), hosts=st.sampled_from([(), ("h",)]),
    route_glob=st.sampled_from([None, "/x", "/[xy]"]),
    statuses=st.sampled_from([(), ("5xx",), ("404", "503")]),
    methods=st.sampled_from([(), ("POST",)]),
    group_by=st.sampled_from([None, *DIMENSIONS]),
    step_minutes=st.sampled_from([None, 1, 7, 60, 120, 1440]))


def apply(store: Any, operation: tuple, number: int, rebuild: bool) -> None:
    """One operation; a store that does not rebuild (the reference) only writes and drops."""
    if operation[0] == "write":
        _, source, aggregate = operation
        store.write_batch(Batch(source, Position(source, number, number + 1), aggregate))
    elif operation[0] == "refresh" and rebuild:
        store.refresh_rollups(limit=operation[1])
    elif operation[0] == "drop":
        store.drop_before(operation[1])


@pytest.mark.parametrize("kind", BACKENDS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(operations, min_size=1, max_size=10), asked=st.lists(queries, min_size=1,
                                                                        max_size=6))
def test_rollups_answer_as_points_do(kind: str, ops: list[tuple], asked: list[Query]) -> None:
    with fresh_store(kind) as rolled, fresh_store(kind) as reference:
        marking(reference)
        for number, operation in enumerate(ops):
            apply(rolled, operation, number, rebuild=True)
            apply(reference, operation, number, rebuild=False)
        for query in asked:
            assert answer(rolled, query) == answer(reference, query)
        rolled.refresh_rollups()
        for query in asked:
            assert answer(rolled, query) == answer(reference, query)


def readers(parts: list[Part], minute: int) -> list[Part]:
    """The parts of a plan that read a minute: at its own row, its hour's or its day's."""
    at = {HOUR_POINTS: minute // H * H, DAY_POINTS: minute // DAY * DAY}
    return [part for part in parts
            if any(low <= at.get(part.table, minute) < high for low, high in part.spans)]


@settings(max_examples=1000, deadline=None)
@given(query=queries, dirty=st.sets(st.integers(-2, 28).map(lambda h: T0 + H * h), max_size=8))
def test_plan_reads_every_minute_of_the_range_once(query: Query, dirty: set[int]) -> None:
    parts = plan(query, dirty)
    start = -math.inf if query.start is None else query.start // 60 * 60
    end = math.inf if query.end is None else query.end
    for minute in range(T0 - 2 * H, T0 + 29 * H, 60):
        hour = minute // H * H
        read = readers(parts, minute)
        assert len(read) == (1 if start <= minute < end else 0), minute
        if read and read[0].table is not POINTS:
            assert hour not in dirty
        if read and read[0].table is HOUR_POINTS:
            assert start <= hour and hour + H - 60 < end
        if read and read[0].table is DAY_POINTS:
            day = minute // DAY * DAY
            assert start <= day and day + DAY - 60 < end
            assert not any(day <= h < day + DAY for h in dirty)
            assert (query.step_minutes or 0) % 1440 == 0


def plan_of(query: Query, dirty: set[int]) -> list[tuple]:
    return [(part.table.time if part.table is not SOURCE_POINTS else "source", part.spans)
            for part in plan(query, dirty)]


def test_plan_splits_a_range_at_whole_clean_hours() -> None:
    query = Query(T0 + 1234, T0 + 5 * H + 61, group_by="route")
    assert whole_hours((T0 + 1200, T0 + 5 * H + 61)) == (T0 + H, T0 + 5 * H)
    assert plan_of(query, set()) == [
        ("p.hour", ((T0 + H, T0 + 5 * H),)),
        ("minute", ((T0 + 1200, T0 + H), (T0 + 5 * H, T0 + 5 * H + 61)))]
    assert plan_of(query, {T0 + 2 * H, T0 + 9 * H}) == [
        ("p.hour", ((T0 + H, T0 + 2 * H), (T0 + 3 * H, T0 + 5 * H))),
        ("minute", ((T0 + 1200, T0 + H), (T0 + 2 * H, T0 + 3 * H),
                      (T0 + 5 * H, T0 + 5 * H + 61)))]
    assert plan_of(Query(T0, T0 + 3540, group_by="route"), set()) == [
        ("minute", ((T0, T0 + 3540),))]
    assert plan_of(Query(step_minutes=5), {T0}) == [
        ("source", ((0, T0), (T0 + H, math.inf))),
        ("minute", ((-math.inf, 0), (T0, T0 + H)))]
    assert plan_of(Query(group_by="route", step_minutes=5), set()) == [("minute", (OPEN,))]
    with pytest.raises(UsageError, match="start nan is out of range"):
        plan(Query(start=math.nan, group_by="route"), set())
    assert plan_of(Query(hosts=["h"], step_minutes=120), set()) == [("p.hour", ((0, math.inf),)),
                                                                    ("minute", ((-math.inf, 0),))]


def test_plan_reads_whole_clean_days_from_the_day_rollup() -> None:
    week = Query(T0 + 1800, T0 + 7 * DAY + 2 * H, group_by="route")
    assert plan_of(week, set()) == [
        ("p.day", ((T0 + DAY, T0 + 7 * DAY),)),
        ("p.hour", ((T0 + H, T0 + DAY), (T0 + 7 * DAY, T0 + 7 * DAY + 2 * H))),
        ("minute", ((T0 + 1800, T0 + H),))]
    assert plan_of(week, {T0 + 3 * DAY + 5 * H}) == [  # that day is read by its hours
        ("p.day", ((T0 + DAY, T0 + 3 * DAY), (T0 + 4 * DAY, T0 + 7 * DAY))),
        ("p.hour", ((T0 + H, T0 + DAY), (T0 + 3 * DAY, T0 + 3 * DAY + 5 * H),
                    (T0 + 3 * DAY + 6 * H, T0 + 4 * DAY), (T0 + 7 * DAY, T0 + 7 * DAY + 2 * H))),
        ("minute", ((T0 + 1800, T0 + H), (T0 + 3 * DAY + 5 * H, T0 + 3 * DAY + 6 * H)))]
    by_day = Query(T0, T0 + 3 * DAY, hosts=["h"], step_minutes=1440)
    assert plan_of(by_day, set()) == [("p.day", ((T0, T0 + 3 * DAY),))]
    by_hour = Query(T0, T0 + 3 * DAY, hosts=["h"], step_minutes=60)
    assert plan_of(by_hour, set()) == [("p.hour", ((T0, T0 + 3 * DAY),))]


def hour_batch(source: str, start: int, hours: int, number: int) -> Batch:
    """A batch with one point per 20 minutes over `hours` hours from T0, two series."""
    aggregate = ChunkAggregate({}, {T0 + 60: 1}, [], 0)
    for minute in range(T0, T0 + hours * H, 1200):
        for route in ("/x", "/y"):
            aggregate.points[(minute, "", "GET", route, 200)] = make_point(
                minute, [float(number), 2.5], 2, 3)
    return Batch(source, Position(source, start, start + 1), aggregate)


EVERY = [Query(), Query(group_by="route"), Query(step_minutes=60, group_by="status"),
         Query(T0 + 600, T0 + 3 * H, step_minutes=1), Query(T0 + H, T0 + 2 * H, hosts=[""])]


@pytest.fixture(params=BACKENDS)
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    """A store that keeps its rollups and a reference that never does: its batches mark
    their hours dirty and it never rebuilds them, so it answers from points."""
    with fresh_store(request.param) as rolled, fresh_store(request.param) as reference:
        yield rolled, marking(reference)


def write_both(pair: tuple[Any, Any], *batches: Batch) -> None:
    for store in pair:
        for each in batches:
            store.write_batch(each)


def assert_same(rolled: Any, reference: Any) -> None:
    for query in EVERY:
        assert answer(rolled, query) == answer(reference, query)


def raw(store: Any, sql: str) -> list[tuple]:
    """Run SQL on a store's own connection (SQLite) or pool (PostgreSQL)."""
    if isinstance(store, SQLiteStore):
        return store.conn.execute(sql).fetchall()
    with store.pool.connection() as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def test_clean_hours_are_read_from_rollups(pair: tuple[Any, Any]) -> None:
    rolled, reference = marking(pair[0]), pair[1]
    write_both(pair, hour_batch("a", 0, 3, 1))
    assert rolled.refresh_rollups() == 3
    assert rolled.refresh_rollups() == 0
    assert_same(rolled, reference)
    raw(rolled, f"DELETE FROM blocks WHERE minute >= {T0 + H} AND minute < {T0 + 2 * H}")
    totals = [row.point.count for row in rolled.query(Query(T0 + H, T0 + 2 * H))]
    assert totals == [12]  # the rollup, not the (emptied) points
    assert rolled.query(Query(T0 + H + 60, T0 + 2 * H, hosts=[""])) == []  # partial: points


def test_hours_of_one_few_and_many_sources_rebuild_their_source_minutes(
        pair: tuple[Any, Any]) -> None:
    rolled, reference = marking(pair[0]), pair[1]
    # Hour 0 holds one source, hour 1 two (a pass each), hour 2 six (one sorted pass).
    sources = {0: ["a"], 1: ["b", "c"], 2: ["d", "e", "f", "g", "h", "i"]}
    for hour, names in sources.items():
        for number, name in enumerate(names):
            batch = hour_batch(name, hour, 1, number)
            batch.aggregate.points = {(minute + hour * H, *key): point for (minute, *key), point
                                      in batch.aggregate.points.items()}
            write_both(pair, batch)
    assert rolled.refresh_rollups() == 3
    assert_same(rolled, reference)
    by_source = Query(T0, T0 + 3 * H, step_minutes=1, group_by="source")
    assert answer(rolled, by_source) == answer(reference, by_source)
    rows = raw(rolled, "SELECT source, minute, count FROM source_points ORDER BY minute, source")
    assert rows == [(name, T0 + hour * H + minute, 4) for hour, names in sources.items()
                    for minute in (0, 1200, 2400) for name in names]


def test_writes_after_a_rebuild_make_the_hour_dirty_again(pair: tuple[Any, Any]) -> None:
    rolled, reference = marking(pair[0]), pair[1]
    write_both(pair, hour_batch("a", 0, 2, 1))
    rolled.refresh_rollups()
    write_both(pair, hour_batch("a", 10, 1, 2), hour_batch("b", 0, 1, 3))
    assert_same(rolled, reference)
    assert [hour for hour, _ in dirty_marks(rolled)] == [T0]
    assert rolled.refresh_rollups(settled_before=0) == 0  # marked since: not settled yet
    assert rolled.refresh_rollups() == 1
    assert_same(rolled, reference)


def dirty_marks(store: Any) -> list[tuple]:
    return raw(store, "SELECT hour, count(*) FROM dirty_hours GROUP BY hour ORDER BY hour")


def test_a_failed_rebuild_leaves_the_hour_dirty(pair: tuple[Any, Any],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    rolled, reference = marking(pair[0]), pair[1]
    write_both(pair, hour_batch("a", 0, 2, 1))
    rolled.refresh_rollups()
    write_both(pair, hour_batch("a", 10, 1, 2))
    module = sqlite_rollup if isinstance(rolled, SQLiteStore) else postgres_rollup
    if module is sqlite_rollup:
        monkeypatch.setattr(module, "HOUR_BLOCKS", "SELECT no_such_column FROM hour_points")
    else:  # the second COPY, after the hour's rows were deleted and copied in
        monkeypatch.setattr(module, "COPY_SOURCE_POINTS",
                            "COPY source_points (no_such_column) FROM STDIN")
    with pytest.raises(StoreError, match="no_such_column"):
        rolled.refresh_rollups()
    assert [hour for hour, _ in dirty_marks(rolled)] == [T0]
    assert_same(rolled, reference)
    monkeypatch.undo()
    assert rolled.refresh_rollups() == 1
    assert_same(rolled, reference)


def test_retention_drops_rollups_with_their_points(pair: tuple[Any, Any]) -> None:
    rolled, reference = pair
    day_two = hour_batch("a", 5, 1, 4)
    day_two.aggregate.points = {(minute + 86400, *rest): point for (minute, *rest), point
                                in day_two.aggregate.points.items()}
    write_both(pair, hour_batch("a", 0, 3, 1), day_two)
    rolled.refresh_rollups()
    for store in pair:
        store.drop_before(T0 + 86400 + 60)
    assert_same(rolled, reference)
    assert raw(rolled, "SELECT count(*) FROM hour_points") == [(2,)]
    assert [row.point.count for row in rolled.query(Query())] == [12]


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_copy_rebuilds_its_rollups(kind: str, tmp_path: Path, pg_dsn: str,
                                     pg_schema: str) -> None:
    origin = tmp_path / "origin.db"
    batches = (hour_batch("a", 0, 3, 1), hour_batch("b", 0, 2, 2))
    with fresh_store("sqlite") as reference:
        write_both((reference, SQLiteStore(origin)), *batches)
        target = tmp_path / "copy.db" if kind == "sqlite" else \
            f"{pg_dsn}?options=-csearch_path%3D{pg_schema}"
        transfer.copy_store(origin, target)
        copy = open_store(target)
        assert dirty_marks(copy) == []
        assert_same(copy, reference)
        copy.close()


def test_migrating_an_old_database_marks_its_hours_dirty(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.db"
    with older_file(path, monkeypatch, 1) as store:
        store.conn.execute("CREATE TABLE dirty_hours (hour INTEGER PRIMARY KEY, marked_at REAL)")
        store.write_batch(hour_batch("a", 0, 3, 1))
        store.conn.execute("DROP TABLE dirty_hours")
    upgraded = SQLiteStore(path)
    assert dirty_marks(upgraded) == [(T0, 1), (T0 + H, 1), (T0 + 2 * H, 1)]
    before = answer(upgraded, Query(group_by="route"))
    assert upgraded.refresh_rollups() == 3
    assert answer(upgraded, Query(group_by="route")) == before
    upgraded.close()


def answers_of_today(path: Path, batches: list[Batch]) -> list[list[tuple]]:
    """What a store of today's schema answers to EVERY query after `batches`."""
    store = SQLiteStore(path)
    for each in batches:
        store.write_batch(each)
    found = [answer(store, query) for query in EVERY]
    store.close()
    return found


def test_rollups_of_the_int64_packing_are_rebuilt_on_opening(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A version-4 file's rollup histograms are int64 fields, which the varint reader would
    refuse: migration 5 empties the rollups and marks their hours dirty, and the answers
    are those of the same batches in a file of today."""
    path = tmp_path / "v4.db"
    batches = [hour_batch("a", number, number + 2, number + 1) for number in range(3)]
    int64_fields = array("q", [sketch.MIN_BIN, 1, 5]).tobytes()
    with older_file(path, monkeypatch, 4) as store:
        for each in batches:
            store.write_batch(each)
        store.conn.execute("DELETE FROM dirty_hours")  # as if every hour were rebuilt
        for table, key in (("hour_points", "hour, series_id"), ("day_points", "day, series_id"),
                           ("source_points", "minute, source")):
            store.conn.execute(f"INSERT INTO {table} ({key}, count, hist) VALUES (?, 1, 1, ?)",
                               (T0, int64_fields))
    today = answers_of_today(tmp_path / "today.db", batches)
    upgraded = SQLiteStore(path)
    assert dirty_marks(upgraded) == [(T0, 1), (T0 + H, 1), (T0 + 2 * H, 1), (T0 + 3 * H, 1)]
    assert [answer(upgraded, query) for query in EVERY] == today
    assert upgraded.refresh_rollups() == 4
    assert [answer(upgraded, query) for query in EVERY] == today
    upgraded.close()


def test_a_version_6_files_point_histograms_become_compact(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v6.db"
    batches = [hour_batch("a", number, 3, number + 1) for number in range(3)]
    with older_file(path, monkeypatch, 6) as store:
        for each in batches:
            store.write_batch(each)
        int32 = raw(store, "SELECT hist FROM points ORDER BY minute, series_id")
    today = answers_of_today(tmp_path / "today.db", batches)
    upgraded = SQLiteStore(path)
    compact = [(row[9],) for row in sorted(block_points.point_rows(upgraded.conn))]
    assert compact == [(sketch.compact(blob),) for (blob,) in int32]
    assert sum(map(len, (b for (b,) in compact))) * 2 < sum(map(len, (b for (b,) in int32)))
    assert [answer(upgraded, query) for query in EVERY] == today
    assert upgraded.refresh_rollups() == 3
    assert [answer(upgraded, query) for query in EVERY] == today
    upgraded.close()


def reopen(store: Any) -> Any:
    """Another handle for another thread: a connection of its own on SQLite (as another
    process would have); a PostgreSQL store is shared by threads as it is."""
    return SQLiteStore(store.path) if isinstance(store, SQLiteStore) else store


def test_a_batch_between_a_rebuilds_read_and_apply_keeps_the_hour_dirty(
        tmp_path: Path) -> None:
    """SQLite computes a rebuild in a read snapshot without the write lock: a batch that
    lands on the hour meanwhile makes the computed rows stale, and they are not applied."""
    rolled, reference = SQLiteStore(tmp_path / "r.db"), marking(SQLiteStore(tmp_path / "ref.db"))
    pair = (rolled, reference)
    write_both((marking(rolled), reference), hour_batch("a", 0, 1, 1))
    del rolled._keep_rollups  # its later batches add to clean hours, and mark dirty ones
    reader = rolled._rollup_readers()[0]
    rebuild = sqlite_rollup.read_rebuild(reader, T0, None)
    assert rebuild is not None and [row[2] for row in rebuild.hour_rows] == [6, 6]
    write_both(pair, hour_batch("a", 1, 1, 2))
    assert not sqlite_rollup.apply_rebuild(reader, rebuild)
    assert dirty_marks(rolled) == [(T0, 1)]
    assert raw(rolled, "SELECT count(*) FROM hour_points") == [(0,)]
    assert_same(rolled, reference)
    assert rolled.refresh_rollups() == 1
    assert raw(rolled, "SELECT count FROM hour_points ORDER BY series_id") == [(12,), (12,)]
    assert_same(rolled, reference)
    for store in pair:
        store.close()


@pytest.mark.parametrize("kind", BACKENDS)
def test_one_store_rebuilds_on_one_thread_while_another_writes(kind: str) -> None:
    """The embedded ingest keeps rollups on a thread beside the one writing batches, on the
    same store object."""
    batches = [hour_batch("a", n, 3, n) for n in range(12)]
    with fresh_store(kind) as rolled, fresh_store(kind) as reference:
        write_both((reference,), *batches)
        done = threading.Event()

        def rebuilder() -> None:
            while not done.is_set():
                rolled.refresh_rollups()

        rebuilding = threading.Thread(target=rebuilder)
        rebuilding.start()
        for each in batches:
            rolled.write_batch(each)
        done.set()
        rebuilding.join()
        assert_same(rolled, reference)
        rolled.refresh_rollups()
        assert dirty_marks(rolled) == []
        assert_same(rolled, reference)


def test_concurrent_writers_and_rebuilds_stay_exact(pair: tuple[Any, Any]) -> None:
    rolled, reference = pair
    batches = [hour_batch(source, n, 2, n) for n in range(6) for source in ("a", "b")]
    write_both((reference,), *batches)
    done = threading.Event()

    def writer(store: Any, share: list[Batch]) -> None:
        for each in share:
            store.write_batch(each)

    def rebuilder(store: Any) -> None:
        while not done.is_set():
            store.refresh_rollups(limit=1)

    handles = [reopen(rolled) for _ in range(3)]
    threads = [threading.Thread(target=writer, args=(handles[i], batches[i::2]))
               for i in range(2)]
    rebuilding = threading.Thread(target=rebuilder, args=(handles[2],))
    rebuilding.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    rebuilding.join()
    for handle in handles:
        if handle is not rolled:
            handle.close()
    assert_same(rolled, reference)
    rolled.refresh_rollups()
    assert dirty_marks(rolled) == []
    assert_same(rolled, reference)


def test_due_hours_picks_settled_hours_and_those_a_later_batch_moved_past() -> None:
    dirty = [(0, 1.0), (H, 2.0), (2 * H, 3.0), (3 * H, 3.0)]
    assert due_hours(dirty, None, False, None) == ([0, H, 2 * H, 3 * H], None)
    assert due_hours(dirty, 2.5, False, None) == ([0, H], 2.5)
    assert due_hours(dirty, None, True, None) == ([0, H], 3.0)
    assert due_hours(dirty, 1.5, True, None) == ([0], 1.5)
    assert due_hours(dirty, None, True, 1) == ([0], 3.0)
    assert due_hours([], None, True, None) == ([], None)


def test_passed_only_leaves_the_hours_of_the_newest_batch(pair: tuple[Any, Any]) -> None:
    rolled, reference = marking(pair[0]), pair[1]
    first = hour_batch("a", 0, 2, 1)
    later = hour_batch("a", 1, 3, 2)
    later.aggregate.points = {key: point for key, point in later.aggregate.points.items()
                              if key[0] >= T0 + H}
    write_both(pair, first, later)
    assert rolled.refresh_rollups(passed_only=True) == 1
    assert [hour for hour, _ in dirty_marks(rolled)] == [T0 + H, T0 + 2 * H]
    assert_same(rolled, reference)
    assert rolled.refresh_rollups(passed_only=True) == 0


def rollup_tables(store: SQLiteStore) -> dict[str, list[tuple]]:
    return {table: raw(store, f"SELECT * FROM {table} ORDER BY 1, 2")
            for table in ("hour_points", "day_points", "source_points")}


def spread_batches() -> list[Batch]:
    """Batches of two sources over hours that overlap, across a day boundary (hour 23 to
    hour 25), with minutes shared by several batches."""
    batches = [hour_batch("a", 0, 3, 1), hour_batch("b", 1, 2, 2), hour_batch("a", 2, 2, 3)]
    late = hour_batch("a", 3, 3, 4)
    late.aggregate.points = {(minute + 22 * H, *rest): point for (minute, *rest), point
                             in late.aggregate.points.items()}
    return [*batches, late]


def test_sqlite_batches_add_to_clean_hours_what_a_rebuild_would_make(tmp_path: Path) -> None:
    """SQLite adds a batch's sums to the rollups of the clean hours it writes: they stay
    clean, and hold exactly what rebuilding them from the points gives (histograms byte
    for byte, day rows included)."""
    store = SQLiteStore(tmp_path / "m.db")
    reference = marking(SQLiteStore(tmp_path / "ref.db"))
    write_both((store, reference), *spread_batches())
    assert dirty_marks(store) == []
    assert dirty_marks(reference) != []
    assert_same(store, reference)
    added = rollup_tables(store)
    assert [len(rows) for rows in added.values()] == [16, 6, 24]
    assert added["day_points"][0][:4] == (T0, 1, 42, 0)
    store.conn.execute(sqlite_rollup.mark_every_hour("blocks"))
    assert store.refresh_rollups() == 6
    assert rollup_tables(store) == added
    for each in (store, reference):
        each.close()


def test_sqlite_batch_rollups_in_python_match_the_native_ones(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    store = SQLiteStore(tmp_path / "m.db")
    rows = [row for each in spread_batches() for row in store._point_rows(each)]
    hours = sorted({minute - minute % H for _, minute, *_ in rows})[1:]
    native = block_points.batch_rollups(rows, hours, "a")
    first, second = native[0][0][9], native[0][1][9]
    added = sqlite_rollup.hist_add()(first, second)
    monkeypatch.setattr(sketch, "_sketch", None)
    monkeypatch.setattr(dense, "_sketch", None)
    python = block_points.batch_rollups(rows, hours, "a")
    assert [sorted(table) for table in python] == [sorted(table) for table in native]
    assert [len(table) for table in native] == [12, 6, 15]
    assert sqlite_rollup.hist_add()(first, second) == added
    assert dense.decode(added) == {bin: dense.decode(first).get(bin, 0)
                                   + dense.decode(second).get(bin, 0)
                                   for bin in dense.decode(first).keys()
                                   | dense.decode(second).keys()}
    store.close()


def test_sqlite_rollups_of_points_without_latencies_are_what_a_rebuild_makes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Points with no response time have no histogram: the rollups a batch adds pack the
    empty sum as a rebuild packs it, natively and in Python alike."""
    aggregate = ChunkAggregate({}, {}, [], 0)
    for minute in range(T0, T0 + 2 * H, 1800):
        aggregate.points[(minute, "", "GET", "/none", 200)] = make_point(minute, [], 3, 5)
    batch = Batch("a", Position("a", 0, 1), aggregate)
    store = SQLiteStore(tmp_path / "m.db")
    rows = store._point_rows(batch)
    native = block_points.batch_rollups(rows, [T0, T0 + H], "a")
    store.write_batch(batch)
    added = rollup_tables(store)
    assert [len(each) for each in added.values()] == [2, 1, 4]
    store.conn.execute(sqlite_rollup.mark_every_hour("blocks"))
    assert store.refresh_rollups() == 2
    assert rollup_tables(store) == added
    assert {row[9] for rows in added.values() for row in rows} == {dense.pack_concat(None)}
    monkeypatch.setattr(sketch, "_sketch", None)
    monkeypatch.setattr(dense, "_sketch", None)
    python = block_points.batch_rollups(rows, [T0, T0 + H], "a")
    assert [sorted(table) for table in python] == [sorted(table) for table in native]
    store.close()
