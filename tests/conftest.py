"""Shared fixtures: the real Apache sample, a CLI runner with an isolated data dir."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

DATA = Path(__file__).parent / "data"

PG_DSN = os.environ.get("LOGCTL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """The test server's DSN, checked once: fail (never skip) when it cannot be reached."""
    try:
        psycopg.connect(PG_DSN, connect_timeout=5).close()
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL is unreachable at LOGCTL_TEST_PG_DSN={PG_DSN!r}: {exc}. "
                    "Start it or point LOGCTL_TEST_PG_DSN at a server.", pytrace=False)
    return PG_DSN


@pytest.fixture
def pg_schema(pg_dsn: str) -> Iterator[str]:
    """A unique schema name, dropped (with everything in it) after the test."""
    name = f"logctl_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def apache_log() -> Path:
    """Real Apache combined log, 10,000 lines (tests/data/SOURCES.md)."""
    return DATA / "apache_logs.log"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty LOGCTL_HOME, and no config file from the working directory."""
    monkeypatch.setenv("LOGCTL_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    for name in ("LOGCTL_DB", "LOGCTL_FORMAT", "LOGCTL_WORKERS", "LOGCTL_STORE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
