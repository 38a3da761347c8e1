"""The SQLite store: exactly-once batches, merges in SQL, route cap, queries."""

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logctl.formats.combined import CombinedParser
from logctl.metrics import columnar, native
from logctl.metrics.points import aggregate_lines
from logctl.metrics.route import OTHER
from logctl.store import block_points, sqlite_schema
from logctl.store.base import Batch, Position, Query
from logctl.store.sqlite import SQLiteStore
from logctl.synthetic import generate
from tests.metrics.test_engines import LatencySum


def lines(n: int, path: str = "/p", rt: str = "0.100", minute: int = 1) -> bytes:
    return b"".join(
        f'1.1.1.1 - - [10/Oct/2000:13:{minute:02d}:36 +0000] "GET {path}{i} HTTP/1.1" 200 10 '
        f'"-" "ua" {rt}\n'.encode() for i in range(n))


def batch(data: bytes, start: int, source: str = "s") -> Batch:
    return Batch(source, Position("id1", start, start + len(data)),
                 aggregate_lines(data, CombinedParser()))


def test_batch_applies_once_and_merges_points(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.db")
    first = batch(lines(3, "/x", "0.100"), 0)
    assert store.write_batch(first) is True
    assert store.write_batch(batch(lines(3, "/x", "0.100"), 0)) is False  # same id: skipped
    assert store.write_batch(batch(lines(2, "/x", "0.300"), 500)) is True
    (row,) = store.query(Query())
    assert (row.point.count, row.point.bytes, row.point.latency_count) == (5, 50, 5)
    assert row.point.latency_max == 300.0 and sum(row.point.hist.values()) == 5
    # bytes len(first)..500 were never stored: the run from 0 ends at the gap
    assert store.committed_end("id1") == first.position.end
    assert store.committed_end("id1", 500) == 500 + len(lines(2, "/x", "0.300"))
    store.close()


def test_route_cap_folds_new_routes_into_other(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.db", route_cap=3)
    store.write_batch(batch(lines(5, "/r"), 0))
    rows = store.query(Query(group_by="route"))
    assert {r.key: r.point.count for r in rows} == {"/r0": 1, "/r1": 1, "/r2": 1, OTHER: 2}
    store.close()


def test_two_stores_on_one_file_serialize(tmp_path: Path) -> None:
    a, b = SQLiteStore(tmp_path / "m.db"), SQLiteStore(tmp_path / "m.db")
    a.write_batch(batch(lines(4), 0))
    b.write_batch(batch(lines(4), 1000))
    assert b.write_batch(batch(lines(4), 0)) is False
    assert sum(r.point.count for r in a.query(Query())) == 8
    a.close()
    b.close()


def test_time_range_and_coverage(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.db")
    store.write_batch(batch(lines(2, minute=1) + lines(3, minute=5), 0))
    minute5 = 971182800 + 5 * 60
    rows = store.query(Query(start=minute5 + 30))  # mid-minute start includes that minute
    assert sum(r.point.count for r in rows) == 3
    coverage = store.coverage(Query())
    assert (coverage.first, coverage.last) == (971182800 + 96, minute5 + 36)
    store.close()


def schema_of(path: Path) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"
                            " ORDER BY name").fetchall()


def test_new_database_loads_the_schema_the_migrations_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The schema snapshot a new file gets equals replaying every migration, statement for
    statement; when a migration is added this fails and prints what to paste into
    logctl/store/sqlite_schema.py."""
    SQLiteStore(tmp_path / "new.db").close()
    with monkeypatch.context() as patched:
        patched.setattr(sqlite_schema, "VERSION", 0)  # no snapshot: replay every step
        SQLiteStore(tmp_path / "replayed.db").close()
    replayed = schema_of(tmp_path / "replayed.db")
    statements = [sql for _, _, _, sql in replayed if sql]
    assert sqlite_schema.MIGRATIONS[-1].version == sqlite_schema.VERSION, statements
    assert schema_of(tmp_path / "new.db") == replayed, statements
    for name in ("new.db", "replayed.db"):
        with closing(sqlite3.connect(tmp_path / name)) as conn:
            assert conn.execute("SELECT value FROM meta").fetchall() == [
                (str(sqlite_schema.VERSION),)]


ENGINES = {"native": native.aggregate_clf, "columnar": columnar.aggregate_clf}


def scanned_batch(chunks: list[bytes], start: int = 0, engine: str = "native") -> Batch:
    """The chunks through a fast engine, merged as processing merges a batch: the engine's
    groups still waiting in the aggregate."""
    aggregate = ENGINES[engine](chunks[0], "auto", CombinedParser())
    for chunk in chunks[1:]:
        aggregate.merge(ENGINES[engine](chunk, "auto", CombinedParser()))
    size = sum(map(len, chunks))
    return Batch("s", Position("id1", start, start + size), aggregate)


def stored_points(store: SQLiteStore) -> list[tuple]:
    """Every stored point as (host, method, route, status, minute, counters, histogram,
    first, last), in that order."""
    series = {row[0]: row[1:] for row in store.conn.execute(
        "SELECT id, host, method, route, status FROM series")}
    rows = sorted((*series[row[0]], *row[1:]) for row in block_points.point_rows(store.conn))
    return [(*row[:10], LatencySum(row[10]), *row[11:]) for row in rows]


# Paths that fold to one route (hex and token ids), a route past the cap, a line the
# scanner leaves to the line parser (lower-case method), one malformed line.
SCANNED = [
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /a/12 HTTP/1.1" 200 5 "-" "u" 0.25',
    b'1.1.1.1 - - [10/Oct/2000:13:58:37 +0000] "GET /a/deadbeef00 HTTP/1.1" 200 7 "-" "u" 0.5',
    b'1.1.1.1 - - [10/Oct/2000:13:58:38 +0000] "GET /a/abcdefabcdef12 HTTP/1.1" 500 1 "-" "u" 2',
    b'1.1.1.1 - - [10/Oct/2000:13:58:39 +0000] "get /a/7 HTTP/1.1" 200 5 "-" "u" 0.125',
    b'1.1.1.1 - - [10/Oct/2000:13:59:01 +0000] "POST /b?q=1 HTTP/1.1" 404 9 "-" "u" 0.75',
    b'1.1.1.1 - - [10/Oct/2000:13:59:02 +0000] "POST /c/x HTTP/1.1" 404 9 "-" "u" 0.75',
    b'1.1.1.1 - - [10/Oct/2000:13:59:03 +0000] "POST /d/y HTTP/1.1" 200 9 "-" "u" 1.5',
    b"garbage",
]


def test_the_scanner_leaves_groups_waiting_and_points_for_what_it_left() -> None:
    aggregate = scanned_batch([b"\n".join(SCANNED) + b"\n"]).aggregate
    points, groups = aggregate.split()
    assert [key[2] for key in points] == ["get"]  # the line parser's
    assert sorted(group[3] for each in groups for group in each) == [
        "/a/:id", "/a/abcdefabcdef12", "/a/deadbeef00", "/b", "/c/x", "/d/y"]
    assert aggregate.requests == 7 and aggregate.minutes() == {971186280, 971186340}
    assert sorted(key[3] for key in aggregate.points) == [
        "/a/:id", "/a/:id", "/a/:id", "/b", "/c/x", "/d/y"]
    assert not aggregate.groups and aggregate.requests == 7


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picked=st.lists(st.lists(st.sampled_from(SCANNED), min_size=1, max_size=12),
                       min_size=1, max_size=4),
       cap=st.sampled_from([2, 3, 2000]))
@pytest.mark.parametrize("engine", list(ENGINES))
def test_scanned_groups_are_stored_as_their_points_would_be(
        tmp_path_factory: pytest.TempPathFactory, engine: str, picked: list[list[bytes]],
        cap: int) -> None:
    """Rows built in C from the scanner's groups (no Point between) store what the same
    batch's points store: folded routes merged, the cap's OTHER, a minute two chunks
    share, and lines the line parser took, in one batch or the next."""
    folder = tmp_path_factory.mktemp("scanned")
    direct, settled = (SQLiteStore(folder / f"{name}.db", route_cap=cap)
                       for name in ("direct", "settled"))
    chunks = [b"\n".join(lines) + b"\n" for lines in picked]
    for at, half in ((0, chunks[: len(chunks) // 2 + 1]), (10_000, chunks[len(chunks) // 2:])):
        grouped, made = scanned_batch(half, at, engine), scanned_batch(half, at, engine)
        waiting = list(grouped.aggregate.groups)
        assert made.aggregate.points is not None and not made.aggregate.groups
        assert direct.write_batch(grouped) and settled.write_batch(made)
        assert grouped.aggregate.groups == waiting  # kept, should the write be retried
    assert stored_points(direct) == stored_points(settled)
    assert [(row.key, row.point.as_tuple()[:5]) for row in direct.query(Query(group_by="route"))] \
        == [(row.key, row.point.as_tuple()[:5]) for row in settled.query(Query(group_by="route"))]
    direct.close()
    settled.close()


def test_group_rows_in_python_equal_those_built_in_c(monkeypatch: pytest.MonkeyPatch) -> None:
    groups = scanned_batch([b"\n".join(SCANNED) + b"\n"]).aggregate.groups
    series = {group[1:5]: number for number, group in enumerate(g for each in groups
                                                                 for g in each)}
    built = native.group_rows(groups, series)
    monkeypatch.setattr(native, "_clf", None)
    assert native.group_rows(groups, series) == built
    assert [row[0] for row in built] == list(range(6)) and all(len(row) == 12 for row in built)


def test_keys_repeated_inside_a_batch_merge_in_its_blocks(tmp_path: Path) -> None:
    """Chunks cut inside minutes repeat a (series, minute) key among a batch's rows: its
    blocks hold one point a key, as the batch's points would."""
    lines = "".join(generate(3000, seed=4, per_minute=300)).encode().splitlines(keepends=True)
    chunks = [b"".join(lines[start:start + 170]) for start in range(0, len(lines), 170)]
    grouped, made = scanned_batch(chunks), scanned_batch(chunks)
    rows = SQLiteStore(tmp_path / "rows.db")._point_rows(grouped)
    keys = [(row[0], row[1]) for row in rows]
    assert len(set(keys)) < len(keys)
    assert made.aggregate.points and not made.aggregate.groups  # points: one row a key
    stores = [SQLiteStore(tmp_path / f"{name}.db") for name in ("grouped", "made")]
    for store, batch in zip(stores, (grouped, made), strict=True):
        assert store.write_batch(batch)
    assert stored_points(stores[0]) == stored_points(stores[1])
    assert sum(row[5] for row in stored_points(stores[0])) == 3000
    for store in stores:
        store.close()


def test_rows_are_chunked_alike_in_c_and_python(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [(n, f"r{n}", n / 2) for n in range(10)]
    assert native.chunked(rows, 4) == ([(0, "r0", 0.0, 1, "r1", 0.5, 2, "r2", 1.0, 3, "r3", 1.5),
                                        (4, "r4", 2.0, 5, "r5", 2.5, 6, "r6", 3.0, 7, "r7", 3.5)],
                                       [(8, "r8", 4.0), (9, "r9", 4.5)])
    built = native.chunked(rows, 3)
    monkeypatch.setattr(native, "_clf", None)
    assert native.chunked(rows, 3) == built and native.chunked(rows, 11) == ([], rows)


def test_a_reader_opens_and_reads_beside_a_writer_mid_transaction(tmp_path: Path) -> None:
    """Opening a connection on a file in use takes no write lock (setting auto_vacuum did,
    after waiting for the writer's commit): a query, or the rollup upkeep's readers, open
    and answer while a batch's transaction is still open."""
    path = tmp_path / "busy.db"
    writer = SQLiteStore(path)
    writer.write_batch(batch(
        b'1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /a HTTP/1.1" 200 5 "-" "-"\n', 0))
    writer.conn.execute("BEGIN IMMEDIATE")
    writer.conn.execute("INSERT INTO meta (key, value) VALUES ('held', 'yes')")
    reader = SQLiteStore(path)  # before the change: "database is locked", after 60 s
    (row,) = reader.query(Query())
    assert writer.conn.in_transaction  # still held: the reader did not wait for it
    writer.conn.execute("ROLLBACK")
    assert row.point.count == 1
    assert reader.conn.execute("PRAGMA auto_vacuum").fetchone() == (2,)
    reader.close()
    writer.close()
