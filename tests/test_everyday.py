"""The everyday commands through the CLI, with exact figures: `sources` (and `rm`),
`prune`, follow mode and the HTML report."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from logctl import render
from logctl.catalog import list_sources
from logctl.checkpoint import CheckpointBook
from logctl.cli import app
from logctl.config import load_settings
from logctl.synthetic import Truth, generate
from logctl.transport.local import local_state
from tests.cluster import wait_until
from tests.test_cli import run, summary


def sources(runner: CliRunner) -> dict[str, dict]:
    return {entry["name"]: entry for entry in json.loads(run(runner, "sources", "--json"))}


def test_sources_list_totals_formats_and_checkpoints(runner: CliRunner, home: Path,
                                                      apache_log: Path, tmp_path: Path) -> None:
    log = tmp_path / "web.log"
    shutil.copy(apache_log, log)
    good = '10.0.0.1 - - [20/May/2015:10:00:00 +0000] "GET /a HTTP/1.1" 500 1 "-" "x"\n'
    (tmp_path / "junk.log").write_text(good * 3 + "not a log line\n")
    run(runner, "ingest", str(log), str(tmp_path / "junk.log"))
    late = '127.0.0.1 - - [20/May/2015:21:06:00 +0000] "GET / HTTP/1.1" 200 7\n'
    with log.open("a") as handle:  # written after the ingest: the lag
        handle.write(late)
    assert len(late) == 66
    listed = sources(runner)
    assert listed["web.log"] == {
        "name": "web.log", "format": "combined", "first": "2015-05-17T10:05:00Z",
        "last": "2015-05-20T21:05:59Z", "requests": 9999, "errors": 3, "malformed": 1,
        "malformed_share": 0.0001, "lines": 10000, "batches": 1,
        "files": [{"path": str(log), "offset": 2370789, "size": 2370855, "lag": 66}]}
    junk = listed["junk.log"]
    assert (junk["requests"], junk["errors"], junk["malformed"], junk["malformed_share"],
            junk["first"]) == (3, 3, 1, 0.25, "2015-05-20T10:00:00Z")
    assert "web.log" in run(runner, "sources")
    wide = Console(width=160, record=True)
    with local_state(load_settings({"home": home})) as (store, books):
        wide.print(render.sources_table(list_sources(store, books)))
    assert "│ web.log  │ combined │ 2015-05-17 10:05:00Z │ 2015-05-20 21:05:59Z │    9,999 │" \
        "     0.01% │     1 │ 2.37 MB │ 66 B │" in wide.export_text()


def test_sources_rm_asks_then_forgets_and_the_file_counts_again(
        runner: CliRunner, home: Path, apache_log: Path) -> None:
    run(runner, "ingest", str(apache_log))
    refused = runner.invoke(app,
                            ["sources", "rm", "apache_logs.log"], input="n\n")
    assert refused.exit_code == 1
    assert summary(runner)["requests"] == 9999
    out = runner.invoke(app, ["sources", "rm", "apache_logs.log"],
                        input="y\n")
    assert out.exit_code == 0, out.output
    assert "removed apache_logs.log: 5,606 points, 9,999 requests; 1 file checkpoint(s)" \
        in out.output
    assert sources(runner) == {}
    assert "no data from the beginning to now, and none stored" in run(runner, "metrics")
    assert "9,999 requests from 10,000 lines" in run(runner, "ingest", str(apache_log))
    assert summary(runner)["requests"] == 9999
    assert "no source 'nope'" in run(runner, "sources", "rm", "nope", "--yes", code=2)


def test_a_checkpoint_book_from_before_formats_opens(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE checkpoints (path TEXT, source_id TEXT PRIMARY KEY, dev "
                     "INTEGER, inode INTEGER, fp_len INTEGER, fp_hash TEXT, offset INTEGER, "
                     "updated_at REAL)")
        conn.execute("INSERT INTO checkpoints VALUES ('/a.log', 'id1', 1, 2, 3, 'h', 40, 0)")
    book = CheckpointBook(path)
    (old,) = book.of_sources(["id1"])
    assert (old.path, old.offset, old.format) == ("/a.log", 40, "")
    assert book.rewind(["id1", "other"]) == 1
    assert book.of_sources(["id1"])[0].offset == 0
    book.close()


def test_ingest_follow_reads_appends_rotation_and_truncation_until_sigint(
        runner: CliRunner, home: Path, tmp_path: Path) -> None:
    lines = list(generate(3300, seed=11, per_minute=50))
    requests = Truth()
    for _ in generate(3300, seed=11, per_minute=50, truth=requests):
        pass
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "access.log"
    log.write_text("".join(lines[:1000]))
    follower = subprocess.Popen([sys.executable, "-m", "logctl", "ingest", "--follow", str(log)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "LOGCTL_HOME": str(home)})

    def stored() -> int:
        """Requests stored so far (-1 while the follower is still creating the database)."""
        result = runner.invoke(app, ["metrics", "--format", "json"])
        return json.loads(result.stdout)["requests"] if result.exit_code == 0 else -1

    try:
        for total in (1000, 2000, 3200, 3300):
            if total == 2000:
                with log.open("a") as handle:
                    handle.write("".join(lines[1000:2000]))
            elif total == 3200:  # rotated: renamed, still written to, and a new file begun
                log.rename(logs / "access.log.1")
                with (logs / "access.log.1").open("a") as handle:
                    handle.write("".join(lines[2000:2500]))
                log.write_text("".join(lines[2500:3200]))
            elif total == 3300:  # truncated in place (copytruncate), then written again
                log.write_text("".join(lines[3200:3300]))
            wait_until(lambda want=total: stored() == want, 60, what=f"{total} requests")
    finally:
        follower.send_signal(signal.SIGINT)
        out, errors = follower.communicate(timeout=60)
    assert follower.returncode == 0, errors
    assert "ingested 3,300 requests from 3,300 lines" in out
    body = summary(runner)
    assert (body["requests"], body["errors"], body["client_errors"], body["bytes"]) == (
        requests.requests, requests.errors, requests.client_errors, requests.bytes)
    again = run(runner, "ingest", str(log), str(logs / "access.log.1"))
    assert "ingested 0 requests from 0 lines" in again


def test_ingest_follow_refuses_what_it_cannot_follow(runner: CliRunner, home: Path) -> None:
    assert "no such file or directory: nope.log" in run(runner, "ingest", "--follow",
                                                        "nope.log", code=1)
    assert "stdin is read to its end" in run(runner, "ingest", "--follow", "-", code=2)
    assert "serve ingest --watch" in run(runner, "ingest", "--follow", ".", "--remote",
                                         "http://127.0.0.1:1", code=2)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed (.ci/run "
                    "installs it)")
def test_metrics_follow_redraws_in_place_as_data_lands(runner: CliRunner, home: Path,
                                                       apache_log: Path, tmp_path: Path) -> None:
    log = tmp_path / "web.log"
    rows = apache_log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(rows[:1000]))
    run(runner, "ingest", str(log))
    session = f"logctl-metrics-{os.getpid()}"
    command = (f"env -u COLUMNS -u LINES LOGCTL_HOME={home} {sys.executable} -m logctl "
               "metrics --follow --interval 0.3 --by status --top 2")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "30",
                    command], check=True)
    try:
        def screen() -> str:
            return subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                  capture_output=True, text=True).stdout

        wait_until(lambda: "│ 200 │      896 │" in screen(), 30, what="the first frame")
        log.write_bytes(b"".join(rows[:4000]))
        run(runner, "ingest", str(log))
        shown = wait_until(lambda: "│ 200 │    3,540 │" in screen() and screen(), 30,
                           what="the new totals redrawn")
        assert shown.count("logctl metrics ·") == 1  # redrawn in place, not scrolled
        subprocess.run(["tmux", "send-keys", "-t", session, "C-c"], check=True)
        wait_until(lambda: subprocess.run(["tmux", "has-session", "-t", session],
                                          capture_output=True).returncode != 0,
                   10, what="Ctrl-C to end the view")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
