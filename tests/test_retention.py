"""Retention and downsampling as users meet them: `logctl prune` on SQLite and PostgreSQL
(exact totals of what is kept, a smaller file, dry runs that change nothing), metrics
saying their resolution, a prune beside a running ingest, and the storage daemon pruning
on its schedule."""

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from logctl.cli import app
from logctl.synthetic import write_log
from tests.cluster import running_cluster, wait_until
from tests.store.test_open_store import pg_url
from tests.test_cli import run

MAY_19 = "2015-05-19T00:00:00Z"


def metrics_json(runner: CliRunner, *args: str) -> dict:
    result = runner.invoke(app, ["metrics", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(params=["sqlite", "postgres"])
def store_flag(request: pytest.FixtureRequest, home: Path) -> list[str]:
    if request.param == "sqlite":
        return []
    schema = request.getfixturevalue("pg_schema")
    return ["--store", pg_url(request.getfixturevalue("pg_dsn"), schema)]


def test_prune_drops_days_and_folds_hours_keeping_exact_totals(
        runner: CliRunner, home: Path, apache_log: Path, store_flag: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    run(runner, "ingest", str(apache_log), *store_flag)
    kept = metrics_json(runner, "--since", MAY_19, *store_flag)
    by_hour = metrics_json(runner, "--since", MAY_19, "--step", "1h", *store_flag)
    monkeypatch.setenv("LOGCTL_DOWNSAMPLE_AFTER", "1d")
    planned = json.loads(run(runner, "prune", "--before", MAY_19, "--dry-run", "--json",
                             *store_flag))
    assert metrics_json(runner, *store_flag)["requests"] == 9999  # a dry run changes nothing
    done = json.loads(run(runner, "prune", "--before", MAY_19, "--json", *store_flag))
    assert {k: v for k, v in planned.items() if not k.startswith(("dry", "bytes"))} == \
        {k: v for k, v in done.items() if not k.startswith(("dry", "bytes"))}
    assert (done["dropped_before"], done["dropped_points"], done["downsampled_hours"],
            done["minute_points_folded"]) == (MAY_19, 2524, 46, 3082)
    whole = metrics_json(runner, *store_flag)
    assert (whole["requests"], whole["errors"], whole["bytes"]) == (
        kept["requests"], kept["errors"], kept["bytes"]) == (5474, 1, 1544386445)
    assert metrics_json(runner, "--since", MAY_19, "--step", "1h", *store_flag) == by_hour
    if not store_flag:  # the pages the pruned points held are given back to the disk
        assert done["bytes_after"] < done["bytes_before"]
        with sqlite3.connect(f"file:{home / 'logctl.db'}?mode=ro", uri=True) as conn:
            assert conn.execute("PRAGMA freelist_count").fetchone() == (0,)


def test_metrics_on_hourly_points_say_so_and_refuse_a_finer_step(
        runner: CliRunner, home: Path, apache_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run(runner, "ingest", str(apache_log))
    monkeypatch.setenv("LOGCTL_DOWNSAMPLE_AFTER", "1d")
    run(runner, "prune")
    refused = run(runner, "metrics", "--since", MAY_19, "--step", "5m", code=2)
    assert "a 5-minute step is finer than what is stored before" in refused
    assert "use a step of whole hours (1h)" in refused
    shown = runner.invoke(app, ["metrics", "--since", MAY_19, "--step", "1d"])
    assert "resolution: 1 hour before" in shown.stderr
    assert metrics_json(runner)["requests"] == 9999


def test_prune_needs_a_policy_or_a_time(runner: CliRunner, home: Path,
                                        apache_log: Path) -> None:
    assert "no metrics yet" in run(runner, "prune", code=1)
    run(runner, "ingest", str(apache_log))
    assert "nothing to prune: set retention" in run(runner, "prune", code=2)
    assert "bad time 'soon'" in run(runner, "prune", "--before", "soon", code=2)


def test_prune_while_ingest_writes_counts_every_line(tmp_path: Path, home: Path) -> None:
    """Hours are folded (everything generated is older than a day) while an ingest process
    is still storing later hours; what the ingest reported is all there, once."""
    log = tmp_path / "big.log"
    truth = write_log(str(log), 400_000, per_minute=700)
    env = {"LOGCTL_HOME": str(home), "LOGCTL_DOWNSAMPLE_AFTER": "1d", "PATH": "/usr/bin"}
    ingest = subprocess.Popen([sys.executable, "-m", "logctl", "ingest", str(log), "--workers",
                               "1", "--json"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    prunes = 0
    try:
        while ingest.poll() is None:
            if (home / "logctl.db").exists():
                subprocess.run([sys.executable, "-m", "logctl", "prune"], env=env, check=False,
                               capture_output=True, timeout=120)
                prunes += 1
            time.sleep(0.2)
    finally:
        out, errors = ingest.communicate(timeout=300)
    assert ingest.returncode == 0, errors
    assert json.loads(out)["requests"] == truth.requests
    subprocess.run([sys.executable, "-m", "logctl", "prune"], env=env, check=True,
                   capture_output=True)
    body = json.loads(subprocess.run([sys.executable, "-m", "logctl", "metrics", "--format",
                                      "json"], env=env, check=True, capture_output=True).stdout)
    assert (body["requests"], body["errors"], body["bytes"]) == (
        truth.requests, truth.errors, truth.bytes)
    assert prunes >= 1


def test_the_storage_daemon_prunes_on_its_schedule(tmp_path: Path, apache_log: Path) -> None:
    extra = 'downsample_after = "1d"\nretention = "36500d"\nprune_interval = 1'
    with running_cluster(tmp_path / "home", extra=extra) as cluster:
        headers = {"authorization": f"Bearer {cluster.token}"}
        remote = ["--remote", cluster.urls["ingest"], "--token", cluster.token]
        run(CliRunner(), "ingest", str(apache_log), *remote)
        analytics = cluster.urls["analytics"]

        def step_refused() -> str:
            reply = httpx.get(f"{analytics}/v1/metrics/timeseries",
                              params={"step": "5m", "since": MAY_19,
                                      "until": "2015-05-21T00:00"}, headers=headers)
            return reply.status_code == 400 and reply.text

        assert "a 5-minute step is finer than what is stored before" in wait_until(
            step_refused, 60, what="the daemon to downsample")
        totals = httpx.get(f"{analytics}/v1/metrics/summary", headers=headers).json()
        assert (totals["requests"], totals["errors"], totals["bytes"]) == (9999, 3, 2747282505)
        hourly = httpx.get(f"{analytics}/v1/metrics/timeseries", headers=headers,
                           params={"step": "1d"}).json()
        assert [e["requests"] for e in hourly["series"]] == [1632, 2893, 2896, 2578]
