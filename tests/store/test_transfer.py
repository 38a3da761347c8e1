"""`logctl migrate`: a copy between SQLite and PostgreSQL answers every query exactly as
the original does, and copying again changes nothing."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from logctl.cli import app
from logctl.synthetic import write_log

QUERIES = [(), ("--by", "route"), ("--by", "status", "--step", "1d"), ("--by", "source"),
           ("--since", "2025-06-01T00:00", "--step", "1m"),
           ("--method", "POST", "--by", "status_class")]


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def answers(*where: str) -> list[str]:
    return [run("metrics", "--format", "json", *where, *query) for query in QUERIES]


@pytest.fixture
def sqlite_db(home: Path, tmp_path: Path, apache_log: Path) -> Path:
    """A SQLite store holding the Apache sample and a generated log with latencies."""
    synthetic = tmp_path / "synth.log"
    write_log(str(synthetic), 20000, seed=3, per_minute=2000)
    db = tmp_path / "source.db"
    run("ingest", str(apache_log), str(synthetic), "--db", str(db))
    return db


def test_sqlite_to_postgres_and_back_gives_identical_metrics(
        sqlite_db: Path, tmp_path: Path, pg_dsn: str, pg_schema: str) -> None:
    url = f"{pg_dsn}?options=-csearch_path%3D{pg_schema}"
    out = run("migrate", "--from", f"sqlite:{sqlite_db}", "--to", url)
    assert out.startswith("copied 7,695 points, 2 batches, 1 malformed counts and 1 samples "
                          f"from sqlite:{sqlite_db} to {url} in ")
    original = answers("--db", str(sqlite_db))
    assert answers("--store", url) == original
    again = run("migrate", "--from", f"sqlite:{sqlite_db}", "--to", url)
    assert again == (f"nothing to copy: {url} already holds all 2 batches of "
                     f"sqlite:{sqlite_db}\n")
    assert answers("--store", url) == original
    back = tmp_path / "back.db"
    assert run("migrate", "--from", url, "--to", str(back)).startswith("copied 7,695 points")
    assert answers("--db", str(back)) == original


def test_overlapping_stores_are_refused_without_change(
        sqlite_db: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    run("migrate", "--from", str(sqlite_db), "--to", str(other))
    more = tmp_path / "more.log"
    write_log(str(more), 500, seed=9)
    run("ingest", str(more), "--db", str(sqlite_db))
    before = answers("--db", str(other))
    out = run("migrate", "--from", str(sqlite_db), "--to", str(other), code=1)
    assert out == (f"error: {other} already holds 2 of the 3 batches being copied: merging "
                   "would count them twice (copy into an empty store)\n")
    assert answers("--db", str(other)) == before


def test_missing_source_is_one_clear_error(home: Path, tmp_path: Path) -> None:
    out = run("migrate", "--from", str(tmp_path / "nope.db"), "--to", str(tmp_path / "b.db"),
              code=1)
    assert out == f"error: no such store: {tmp_path / 'nope.db'} does not exist\n"
    assert not (tmp_path / "b.db").exists()
