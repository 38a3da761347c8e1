"""The SQLite store: exactly-once batches, merges in SQL, route cap, queries."""

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from logctl.formats.combined import CombinedParser
from logctl.metrics.points import aggregate_lines
from logctl.metrics.route import OTHER
from logctl.store import sqlite_schema
from logctl.store.base import Batch, Position, Query
from logctl.store.sqlite import SQLiteStore


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
