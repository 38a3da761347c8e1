"""Store fixtures: every contract test runs against SQLite and PostgreSQL. PostgreSQL comes
from LOGCTL_TEST_PG_DSN; an unreachable server fails the tests (CI must exercise it), and
each test gets its own schema, dropped afterwards, so parallel runs never collide."""

import sqlite3
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from logctl.metrics import dense, sketch
from logctl.store import sqlite_rollup, sqlite_schema
from logctl.store.base import Batch
from logctl.store.postgres import PostgresStore
from logctl.store.rollup import batch_hours
from logctl.store.sqlite import SQLiteStore


@dataclass
class Backend:
    """One database behind the contract: opens stores on it and runs raw SQL in it."""

    name: str
    opener: Callable[..., Any]
    raw: Callable[[str], list[tuple]]

    def open(self, route_cap: int = 2000) -> Any:
        return self.opener(route_cap=route_cap)


def sqlite_backend(path: Path) -> Backend:
    def raw(sql: str) -> list[tuple]:
        import sqlite3

        with sqlite3.connect(path) as conn:
            return conn.execute(sql).fetchall()
    return Backend("sqlite", lambda route_cap: SQLiteStore(path, route_cap=route_cap), raw)


def pg_backend(dsn: str, schema: str) -> Backend:
    def raw(sql: str) -> list[tuple]:
        with psycopg.connect(dsn, autocommit=True, options=f"-csearch_path={schema}") as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []
    return Backend("postgres", lambda route_cap: PostgresStore(
        dsn, route_cap=route_cap, schema_name=schema), raw)


def int32_histograms(patch: pytest.MonkeyPatch) -> None:
    """Store SQLite points' histograms as int32 pairs, not compact, as files before schema
    version 7 hold them: for tests that make an older file with the code of today."""
    patch.setattr(sketch, "compact", lambda blob: blob or None)
    patch.setattr(sketch, "expand", lambda blob, ascending=True: blob or None)
    # The dense packing of summed histograms expands compact blobs in C where built: the
    # Python one expands them with the `expand` above.
    patch.setattr(dense, "_sketch", None)


def marks_dirty(store: SQLiteStore, conn: sqlite3.Connection, rows: list[tuple],
                batch: Batch) -> None:
    """A SQLite batch's part in the rollups as before batches added to clean hours'
    rollups (and as PostgreSQL's still is): its hours marked dirty, for a rebuild."""
    sqlite_rollup.mark_dirty(conn, batch_hours(batch))


# How a batch's points were written before schema version 8 packed them in blocks.
UPSERT_POINT = f"""
INSERT INTO points (series_id, minute, {sqlite_rollup.COLUMNS})
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
{sqlite_rollup.adding("minute, series_id", "hist_merge")}"""
UPSERT_POINT_BEFORE_3 = UPSERT_POINT.replace("(minute, series_id)", "(series_id, minute)")


def upserts_point_rows(store: SQLiteStore, conn: sqlite3.Connection, source: str,
                       rows: list[tuple]) -> None:
    """A batch's point rows upserted a row a point into `points`, as files before schema
    version 8 hold them (keyed (series_id, minute) before version 3)."""
    conn.create_function("hist_merge", 2, sketch.merge_compact, deterministic=True)
    version = sqlite_schema.schema_version(conn)
    conn.executemany(UPSERT_POINT if version >= 3 else UPSERT_POINT_BEFORE_3, rows)


def marking(store: Any) -> Any:
    """The store with its batches marking their hours dirty (`marks_dirty`): its rollups
    come from rebuilds only, and until one its queries read points."""
    if isinstance(store, SQLiteStore):
        store._keep_rollups = types.MethodType(marks_dirty, store)
    return store


@contextmanager
def older_file(path: Path, patch: pytest.MonkeyPatch, version: int) -> Iterator[SQLiteStore]:
    """A SQLite store at `path` as logctl made it at schema `version` (only that many
    migrations, point histograms as int32 pairs, batches marking their hours dirty rather
    than adding to rollups), closed afterwards: what a test upgrades."""
    with patch.context() as old:
        old.setattr(sqlite_schema, "MIGRATIONS", sqlite_schema.MIGRATIONS[:version])
        old.setattr(SQLiteStore, "_keep_rollups", marks_dirty)
        old.setattr(SQLiteStore, "_write_points", upserts_point_rows)
        int32_histograms(old)
        store = SQLiteStore(path)
        yield store
        store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The same scenarios on each store."""
    if request.param == "sqlite":
        return sqlite_backend(tmp_path / "metrics.db")
    return pg_backend(request.getfixturevalue("pg_dsn"), request.getfixturevalue("pg_schema"))


@pytest.fixture
def store(backend: Backend) -> Iterator[Any]:
    """An open store on the backend, closed afterwards."""
    opened = backend.open()
    yield opened
    opened.close()
