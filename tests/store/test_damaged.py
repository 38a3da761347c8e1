"""A damaged database (cut short, a page overwritten with random bytes, not SQLite at all):
every command says so in one line naming the file and exits 1, never with a traceback, and
the storage daemon refuses to start with the same line."""

import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from logctl.cli import app

PAGE = 4096


def damage(good: Path, kind: str, target: Path) -> Path:
    shutil.copy(good, target)
    data = bytearray(target.read_bytes())
    noise = random.Random(7).randbytes(PAGE)
    if kind == "truncated":
        data = data[: len(data) // 3]
    elif kind == "schema page overwritten":
        data[100:PAGE] = noise[: PAGE - 100]
    elif kind == "header overwritten":
        data[:100] = noise[:100]
    elif kind == "not sqlite":
        data = bytearray(b"127.0.0.1 - - this is a log file, not a database\n" * 100)
    target.write_bytes(bytes(data))
    return target


KINDS = ["truncated", "schema page overwritten", "header overwritten", "not sqlite"]


@pytest.fixture(scope="module")
def good_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from typer.testing import CliRunner

    db = tmp_path_factory.mktemp("good") / "logctl.db"
    log = Path(__file__).parent.parent / "data" / "apache_logs.log"
    done = CliRunner().invoke(app, ["ingest", str(log), "--db", str(db)])
    assert done.exit_code == 0, done.output
    assert db.stat().st_size > 20 * PAGE
    return db


def one_error_line(output: str, db: Path) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and str(db) in lines[-1], output
    assert "Traceback" not in output


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", [["metrics"], ["metrics", "--by", "route"],
                                     ["ingest", "LOG"], ["migrate", "--to", "OUT", "--from"]])
def test_every_command_names_the_damaged_file(good_db: Path, tmp_path: Path, runner,
                                              kind: str, command: list[str]) -> None:
    db = damage(good_db, kind, tmp_path / "logctl.db")
    log = Path(__file__).parent.parent / "data" / "apache_logs.log"
    args = [str(log) if a == "LOG" else str(tmp_path / "out.db") if a == "OUT" else a
            for a in command]
    done = runner.invoke(app, [*args, str(db)] if args[0] == "migrate" else
                         [*args, "--db", str(db)])
    assert done.exit_code == 1, done.output
    one_error_line(done.output, db)


def test_damage_no_query_touches_is_still_refused_by_the_storage_daemon(
        good_db: Path, tmp_path: Path) -> None:
    """A data page deep in the file: the daemon's check reads it all before serving."""
    db = tmp_path / "logctl.db"
    shutil.copy(good_db, db)
    data = bytearray(db.read_bytes())
    middle = (len(data) // PAGE // 2) * PAGE
    data[middle:middle + PAGE] = random.Random(3).randbytes(PAGE)
    db.write_bytes(bytes(data))
    started = subprocess.run([sys.executable, "-m", "logctl", "serve", "storage", "--db",
                              str(db), "--home", str(tmp_path / "home")],
                             capture_output=True, text=True, timeout=60)
    assert started.returncode == 1, started.stderr
    one_error_line(started.stderr, db)
    assert "damaged database" in started.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_the_storage_daemon_refuses_to_start(good_db: Path, tmp_path: Path, kind: str) -> None:
    db = damage(good_db, kind, tmp_path / "logctl.db")
    started = subprocess.run([sys.executable, "-m", "logctl", "serve", "storage", "--db",
                              str(db), "--home", str(tmp_path / "home")],
                             capture_output=True, text=True, timeout=60)
    assert started.returncode == 1, started.stderr
    one_error_line(started.stderr, db)
