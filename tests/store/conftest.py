"""Store fixtures: every contract test runs against SQLite and PostgreSQL. PostgreSQL comes
from LOGCTL_TEST_PG_DSN; an unreachable server fails the tests (CI must exercise it), and
each test gets its own schema, dropped afterwards, so parallel runs never collide."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from logctl.metrics import sketch
from logctl.store import sqlite_schema
from logctl.store.postgres import PostgresStore
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


@contextmanager
def older_file(path: Path, patch: pytest.MonkeyPatch, version: int) -> Iterator[SQLiteStore]:
    """A SQLite store at `path` as logctl made it at schema `version` (only that many
    migrations, point histograms as int32 pairs), closed afterwards: what a test upgrades."""
    with patch.context() as old:
        old.setattr(sqlite_schema, "MIGRATIONS", sqlite_schema.MIGRATIONS[:version])
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
