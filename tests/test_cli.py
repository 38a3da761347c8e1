"""The commands as a user runs them: exact figures on real logs, re-runs that never
double-count, the JSON contract, and clear errors for bad input."""

import contextlib
import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zstandard
from typer.testing import CliRunner

from logctl.cli import app
from logctl.synthetic import generate, write_log

APACHE = {"requests": 9999, "errors": 3, "client_errors": 217, "bytes": 2747282505,
          "malformed": 1, "first": "2015-05-17T10:05:00Z", "last": "2015-05-20T21:05:59Z"}


def run(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def summary(runner: CliRunner, *args: str) -> dict:
    return json.loads(run(runner, "metrics", "--format", "json", *args))


def pick(body: dict) -> dict:
    return {key: body[key] for key in APACHE}


def test_real_apache_log_exact_figures(runner: CliRunner, home: Path, apache_log: Path) -> None:
    out = run(runner, "ingest", str(apache_log))
    assert "9,999 requests from 10,000 lines (1 malformed)" in out
    body = summary(runner)
    assert pick(body) == APACHE
    assert body["errors"] + body["client_errors"] == 220
    assert body["error_rate"] == round(3 / 9999, 6)
    assert body["latency_ms"] is None


def test_ingest_leaves_every_hour_rolled_up(runner: CliRunner, home: Path,
                                             apache_log: Path) -> None:
    run(runner, "ingest", str(apache_log))
    with sqlite3.connect(home / "logctl.db") as conn:
        assert conn.execute("SELECT count(*) FROM dirty_hours").fetchone() == (0,)
        assert conn.execute("SELECT count(*), sum(count) FROM hour_points").fetchone() == (
            5606, 9999)
    assert pick(summary(runner)) == APACHE


def test_ingesting_twice_counts_once(runner: CliRunner, home: Path, apache_log: Path) -> None:
    run(runner, "ingest", str(apache_log))
    out = run(runner, "ingest", str(apache_log))
    assert "0 requests from 0 lines" in out
    assert pick(summary(runner)) == APACHE


def test_grown_file_adds_only_the_new_part(runner: CliRunner, home: Path, tmp_path: Path,
                                           apache_log: Path) -> None:
    lines = apache_log.read_bytes().splitlines(keepends=True)
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(lines[:4000]))
    run(runner, "ingest", str(log))
    assert summary(runner)["requests"] == 4000
    with log.open("ab") as handle:
        handle.write(b"".join(lines[4000:]))
    out = run(runner, "ingest", str(log))
    assert "5,999 requests from 6,000 lines (1 malformed)" in out
    assert pick(summary(runner)) == APACHE


def test_rotated_file_is_not_read_twice(runner: CliRunner, home: Path, tmp_path: Path,
                                        apache_log: Path) -> None:
    lines = apache_log.read_bytes().splitlines(keepends=True)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "access.log").write_bytes(b"".join(lines[:5000]))
    run(runner, "ingest", str(logs))
    (logs / "access.log").rename(logs / "access.log.1")
    (logs / "access.log").write_bytes(b"".join(lines[5000:]))
    run(runner, "ingest", str(logs))
    assert pick(summary(runner)) == APACHE
    assert summary(runner, "--source", "access.log")["requests"] == 9999


def test_compressed_inputs_and_stdin(runner: CliRunner, home: Path, tmp_path: Path,
                                     apache_log: Path) -> None:
    data = apache_log.read_bytes()
    lines = data.splitlines(keepends=True)
    (tmp_path / "a.log.gz").write_bytes(gzip.compress(b"".join(lines[:3000])))
    (tmp_path / "b.log.zst").write_bytes(zstandard.compress(b"".join(lines[3000:6000])))
    run(runner, "ingest", str(tmp_path / "a.log.gz"), str(tmp_path / "b.log.zst"))
    result = runner.invoke(app, ["ingest", "-", "--source", "piped"],
                           input=b"".join(lines[6000:]))
    assert result.exit_code == 0, result.output
    assert pick(summary(runner)) == APACHE
    assert summary(runner, "--source", "piped")["requests"] == 3999


def test_worker_processes_give_the_same_totals(runner: CliRunner, home: Path, tmp_path: Path,
                                               apache_log: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("logctl.transport.local.POOL_THRESHOLD", 0)
    monkeypatch.setenv("LOGCTL_CHUNK_SIZE", "65536")
    run(runner, "ingest", str(apache_log), "--workers", "2")
    assert pick(summary(runner)) == APACHE


def test_group_by_step_top_and_filters(runner: CliRunner, home: Path, apache_log: Path) -> None:
    run(runner, "ingest", str(apache_log))
    groups = summary(runner, "--by", "status_class")["groups"]
    assert [(g["key"], g["requests"]) for g in groups] == [
        ("2xx", 9170), ("3xx", 609), ("4xx", 217), ("5xx", 3)]
    top = summary(runner, "--by", "route", "--top", "3")["groups"]
    assert [(g["key"], g["requests"]) for g in top] == [
        ("/favicon.ico", 807), ("/", 575), ("/style2.css", 546)]
    series = summary(runner, "--step", "1d")["series"]
    assert [s["t"] for s in series] == ["2015-05-17T00:00:00Z", "2015-05-18T00:00:00Z",
                                        "2015-05-19T00:00:00Z", "2015-05-20T00:00:00Z"]
    assert sum(s["requests"] for s in series) == 9999
    assert sum(s["malformed"] for s in series) == 1
    assert summary(runner, "--status", "5xx")["requests"] == 3
    assert summary(runner, "--status", "404,5xx")["requests"] == 3 + summary(
        runner, "--status", "404")["requests"]
    assert summary(runner, "--method", "head")["requests"] == 42
    assert summary(runner, "--route", "/presentations/*", "--status", "4xx")["malformed"] == 0
    ranged = summary(runner, "--since", "2015-05-18T00:00", "--until", "2015-05-19T00:00")
    assert ranged["requests"] == series[1]["requests"]


def test_table_and_csv(runner: CliRunner, home: Path, apache_log: Path) -> None:
    run(runner, "ingest", str(apache_log))
    table = run(runner, "metrics")
    assert "9,999" in table and "2.75 GB" in table
    csv = run(runner, "metrics", "--by", "status_class", "--format", "csv").splitlines()
    assert csv[0].startswith("key,requests,errors,client_errors,error_rate,bytes,malformed")
    assert csv[1].startswith("2xx,9170,")


def test_empty_range_says_what_the_data_covers(runner: CliRunner, home: Path,
                                               apache_log: Path) -> None:
    run(runner, "ingest", str(apache_log))
    out = run(runner, "metrics", "--since", "1h")
    assert "the data covers 2015-05-17T10:05:00Z to 2015-05-20T21:05:59Z" in out


def test_latency_quantiles_from_response_times(runner: CliRunner, home: Path,
                                               tmp_path: Path) -> None:
    rts = [i / 1000 for i in range(1, 1001)]  # 1..1000 ms
    log = tmp_path / "rt.log"
    log.write_text("".join(f'1.1.1.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1 '
                           f'"-" "ua" {rt:.3f}\n' for rt in rts))
    run(runner, "ingest", str(log))
    latency = summary(runner)["latency_ms"]
    for name, want in (("p50", 500), ("p90", 900), ("p95", 950), ("p99", 990)):
        assert abs(latency[name] - want) <= 0.01 * want, (name, latency[name])
    assert latency["max"] == 1000.0 and latency["mean"] == 500.5


@pytest.mark.parametrize(("args", "code", "message"), [
    (["ingest", "/no/such/file.log"], 1, "no such file: /no/such/file.log"),
    # brackets in a message are printed as they are, not read as rich markup
    (["ingest", "/no/such/a[/]b[x].log"], 1, "no file matches /no/such/a[/]b[x].log"),
    (["ingest", "--format", "klingon", "{log}"], 2, "unknown format 'klingon'"),
    (["ingest", "--format", "regex:(", "{log}"], 2, "bad regex format"),
    (["ingest", "{empty_dir}"], 1, "no log files found"),
    (["ingest", "{binary}"], 1, "is a binary file, not a log"),
    (["ingest", "--db", "/proc/nope/x.db", "{log}"], 1, "cannot open"),
    (["ingest", "{prose}"], 2, "cannot detect the format"),
    (["metrics", "--since", "yesterday-ish"], 2, "bad time 'yesterday-ish'"),
    (["metrics", "--by", "colour"], 2, "cannot group by 'colour'"),
    (["metrics", "--step", "90s"], 2, "bad step '90s'"),
    (["metrics", "--status", "9zz"], 2, "bad status filter '9zz'"),
    (["metrics", "--format", "xml"], 2, "unknown output format 'xml'"),
    (["ingest", "--field", "oops", "{log}"], 2, "bad field mapping 'oops'"),
])
def test_bad_input_is_one_clear_line(runner: CliRunner, home: Path, tmp_path: Path,
                                     apache_log: Path, args: list[str], code: int,
                                     message: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "bin").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "prose.txt").write_text("It was a dark and stormy night.\nThe end.\n")
    if args[0] == "metrics":
        run(runner, "ingest", str(apache_log))
    paths = {"log": str(apache_log), "empty_dir": str(tmp_path / "empty"),
             "binary": str(tmp_path / "bin"), "prose": str(tmp_path / "prose.txt")}
    result = runner.invoke(app, [a.format(**paths) for a in args])
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_metrics_before_any_ingest(runner: CliRunner, home: Path) -> None:
    result = runner.invoke(app, ["metrics"])
    assert result.exit_code == 1 and "run `logctl ingest FILE` first" in result.output


def test_db_flag_and_home_env(runner: CliRunner, home: Path, tmp_path: Path,
                              apache_log: Path) -> None:
    db = tmp_path / "elsewhere" / "m.db"
    run(runner, "ingest", str(apache_log), "--db", str(db))
    assert db.exists() and not (home / "logctl.db").exists()
    assert summary(runner, "--db", str(db))["requests"] == 9999
    assert os.environ["LOGCTL_HOME"] == str(home)


def test_sigterm_stops_ingest_and_its_workers(tmp_path: Path) -> None:
    """SIGTERM ends a large ingest like Ctrl-C: exit 130, no worker process left behind
    (the line engine parses in worker processes; the native scanner needs none)."""
    log = tmp_path / "big.log"
    write_log(str(log), 400_000)  # over the size that starts worker processes
    process = subprocess.Popen([sys.executable, "-m", "logctl", "ingest", str(log),
                                "--home", str(tmp_path / "home")],
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "LOGCTL_ENGINE": "python"})
    children: set[str] = set()
    deadline = time.monotonic() + 30
    while len(children) < 2 and time.monotonic() < deadline and process.poll() is None:
        children |= set(subprocess.run(["pgrep", "-P", str(process.pid)],
                                       capture_output=True, text=True).stdout.split())
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 130
    assert "interrupted: what was stored so far is kept" in process.stderr.read()
    assert children
    deadline = time.monotonic() + 15  # helpers notice their parent is gone and exit
    while [pid for pid in children if Path(f"/proc/{pid}").exists()]:
        assert time.monotonic() < deadline, f"left behind: {children}"
        time.sleep(0.1)


def test_sigterm_stops_an_ingest_waiting_on_stdin(tmp_path: Path) -> None:
    """SIGTERM while the reader waits for more input: exit 130 at once, and what was
    stored stays stored."""
    home = tmp_path / "home"
    process = subprocess.Popen([sys.executable, "-m", "logctl", "ingest", "-", "--home",
                                str(home)], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.write("".join(generate(60_000, per_minute=1000)).encode())  # 2+ chunks
    process.stdin.flush()
    deadline = time.monotonic() + 60
    while not _stored_batches(home / "logctl.db"):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 130
    assert time.monotonic() - started < 10
    process.stdin.close()
    assert b"interrupted: what was stored so far is kept" in process.stderr.read()
    assert _stored_batches(home / "logctl.db") >= 1


def _stored_batches(db: Path) -> int:
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
        try:
            return conn.execute("SELECT count(*) FROM batches").fetchone()[0]
        except sqlite3.OperationalError:  # the schema is not there yet
            return 0


def test_markdown_tables_for_pasting(runner: CliRunner, home: Path, apache_log: Path) -> None:
    run(runner, "ingest", str(apache_log))
    table = run(runner, "metrics", "--by", "status", "--sort", "key", "--format", "markdown")
    assert table.splitlines()[:4] == [
        "| key | requests | 5xx | 5xx % | 4xx | bytes | p50 | p95 | p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        "| 200 | 9,125 | 0 | 0.00% | 0 | 2.74 GB | - | - | - |",
        "| 206 | 45 | 0 | 0.00% | 0 | 11.51 MB | - | - | - |"]
    assert table.splitlines()[-1] == "| 500 | 3 | 3 | 100.00% | 0 | 626 B | - | - | - |"
    totals = run(runner, "metrics", "--format", "markdown").splitlines()
    assert totals[:4] == ["| metric | value |", "|---|---:|", "| requests | 9,999 |",
                          "| 5xx errors | 3 (0.03%) |"]


def test_sort_orders_the_groups_by_any_column(runner: CliRunner, home: Path,
                                               apache_log: Path) -> None:
    run(runner, "ingest", str(apache_log))
    top = summary(runner, "--by", "route", "--top", "3", "--sort", "bytes")["groups"]
    assert [(g["key"], g["bytes"]) for g in top] == [
        ("/", 19178162), ("/favicon.ico", 2866744), ("/style2.css", 2594564)]
    by_key = summary(runner, "--by", "status", "--sort", "key")["groups"]
    assert [g["key"] for g in by_key] == ["200", "206", "301", "304", "403", "404", "416", "500"]
    assert run(runner, "metrics", "--sort", "nope", code=2).startswith(
        "error: cannot sort by 'nope': use one of key, requests, errors")


def test_by_two_dimensions_gives_a_column_each(runner: CliRunner, home: Path,
                                               apache_log: Path) -> None:
    run(runner, "ingest", str(apache_log))
    table = run(runner, "metrics", "--by", "route,status", "--top", "2", "--format",
                "markdown").splitlines()
    assert table[0] == "| route | status | requests | 5xx | 5xx % | 4xx | bytes | p50 | p95 | p99 |"
    assert table[2:] == ["| /favicon.ico | 200 | 796 | 0 | 0.00% | 0 | 2.87 MB | - | - | - |",
                         "| / | 200 | 575 | 0 | 0.00% | 0 | 19.18 MB | - | - | - |"]
    csv_lines = run(runner, "metrics", "--by", "status,method", "--sort", "key", "--format",
                    "csv").splitlines()
    assert csv_lines[0].startswith("status,method,requests,errors,")
    assert csv_lines[1].startswith("200,GET,9090,0,")
    by_key = summary(runner, "--by", "status,method", "--sort", "key")["groups"]
    assert [g["key"] for g in by_key[:3]] == [["200", "GET"], ["200", "HEAD"], ["200", "POST"]]
    for bad, why in (("route,route", "two different ones"), ("route,nope", "'nope'"),
                     ("route,status,host", "one dimension or two")):
        assert why in run(runner, "metrics", "--by", bad, code=2)


class FakeAnalytics:
    """An AnalyticsClient in memory: the CLI renders whatever Answer a client gives."""

    def __init__(self, answer) -> None:
        self.asked: list = []
        self.given = answer

    def answer(self, request):
        self.asked.append(request)
        return self.given


def test_metrics_renders_the_answer_of_whichever_client(runner: CliRunner, home: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from logctl import cli
    from logctl.connect import Answer

    body = {"groups": [{"key": "/a", "requests": 3, "errors": 1, "client_errors": 0,
                        "error_rate": 0.333333, "bytes": 10, "malformed": 0,
                        "latency_ms": None, "first": None, "last": None}]}
    fake = FakeAnalytics(Answer(body, False))
    monkeypatch.setattr(cli, "connect_analytics", lambda settings: fake)
    shown = run(runner, "metrics", "--by", "route", "--format", "markdown")
    assert shown.splitlines()[2] == "| /a | 3 | 1 | 33.33% | 0 | 10 B | - | - | - |"
    assert [r.by for r in fake.asked] == ["route"]
    fake.given = Answer({**body, "groups": []}, True, "no data in this range")
    assert "no data in this range" in run(runner, "metrics", "--by", "route")


def test_ingest_has_no_grpc_remote(runner: CliRunner, home: Path, apache_log: Path) -> None:
    out = run(runner, "ingest", str(apache_log), "--remote", "grpc://127.0.0.1:1", code=2)
    assert out.startswith("error: ingest daemons take uploads over HTTP")


def test_ingest_renders_the_report_of_whichever_client(runner: CliRunner, home: Path,
                                                       apache_log: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """An IngestClient in memory: local and remote runs print the same line."""
    from logctl import cli
    from logctl.services.ingest import FileReport, IngestReport

    class FakeIngest:
        verb = "upload"
        where = ("remote", "http://lb:7401")

        def ingest(self, sources, progress=None) -> IngestReport:
            assert [s.name for s in sources] == ["apache_logs.log"]
            return IngestReport([FileReport("apache_logs.log", "combined", 0, 2000, 10, 9, 1)],
                                ["one warning"], 0.5)

    monkeypatch.setattr(cli, "connect_ingest", lambda settings: FakeIngest())
    out = run(runner, "ingest", str(apache_log))
    assert out.splitlines()[-1] == ("ingested 9 requests from 10 lines (1 malformed) in 1 "
                                    "file(s), 2.00 kB in 0.50s (20 lines/s) via http://lb:7401")
    assert "warning: one warning" in out
    report = json.loads(run(runner, "ingest", str(apache_log), "--json"))
    assert (report["remote"], report["requests"], report["warnings"]) == (
        "http://lb:7401", 9, ["one warning"])
