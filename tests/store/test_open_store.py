"""open_store picks the backend from a target string, and the CLI's --store / LOGCTL_STORE
run ingest and metrics against PostgreSQL with checkpoints kept in a local file."""

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from logctl.cli import app
from logctl.errors import UsageError
from logctl.store import open_store, redact, sqlite_path
from logctl.store.postgres import PostgresStore
from logctl.store.sqlite import SQLiteStore


def pg_url(dsn: str, schema: str) -> str:
    return f"{dsn}?options=-csearch_path%3D{schema}"


@pytest.mark.parametrize(("target", "path"), [
    ("sqlite:/tmp/a.db", Path("/tmp/a.db")), ("sqlite:///tmp/b.db", Path("/tmp/b.db")),
    ("plain.db", Path("plain.db")), ("postgresql://h/db", None), ("postgres://h/db", None),
])
def test_targets_name_their_backend(target: str, path: Path | None) -> None:
    assert sqlite_path(target) == path


def test_empty_sqlite_target_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="empty SQLite path"):
        sqlite_path("sqlite:")


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql://u:pw@h:5/db?x=1") == "postgresql://u:***@h:5/db?x=1"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
    assert redact("/tmp/m.db") == "/tmp/m.db"


def test_open_store_opens_each_backend(tmp_path: Path, pg_dsn: str, pg_schema: str) -> None:
    sqlite_store = open_store(f"sqlite:{tmp_path / 'm.db'}")
    pg_store = open_store(pg_url(pg_dsn, pg_schema), route_cap=5)
    assert isinstance(sqlite_store, SQLiteStore) and isinstance(pg_store, PostgresStore)
    assert pg_store.route_cap == 5
    sqlite_store.close()
    pg_store.close()


def test_a_postgres_target_without_the_driver_is_one_clear_error(
        home: Path, apache_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`pip install -e .` leaves psycopg out (it is the `postgres` extra): a PostgreSQL
    target then says what to install, as one line and exit 1, not a traceback."""
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` raises ImportError
    monkeypatch.delitem(sys.modules, "logctl.store.postgres")
    url = "postgresql://postgres:secret@127.0.0.1:5432/test"
    result = CliRunner().invoke(app, ["ingest", str(apache_log), "--store", url])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert ("postgresql://postgres:***@127.0.0.1:5432/test needs PostgreSQL support, which is"
            " not installed (no module 'psycopg'): pip install 'logctl[postgres]'"
            ) in " ".join(result.output.split())


def test_cli_ingests_into_postgres_once(home: Path, apache_log: Path, pg_dsn: str,
                                       pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    runner, url = CliRunner(), pg_url(pg_dsn, pg_schema)
    first = runner.invoke(app, ["ingest", str(apache_log), "--store", url])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["ingest", str(apache_log), "--store", url])
    assert "0 requests from 0 lines" in again.output
    assert (home / "checkpoints.db").exists() and not (home / "logctl.db").exists()
    monkeypatch.setenv("LOGCTL_STORE", url)
    result = runner.invoke(app, ["metrics", "--format", "json", "--by", "status_class"])
    assert result.exit_code == 0, result.output
    assert [(g["key"], g["requests"]) for g in json.loads(result.output)["groups"]] == [
        ("2xx", 9170), ("3xx", 609), ("4xx", 217), ("5xx", 3)]
