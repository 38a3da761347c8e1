"""A full disk: the database on a small file system the test mounts (tmpfs with a size, as
root; skipped only where mounting is not allowed). The embedded ingest stops with one line
and exit 1, leaving the database readable and exact for what it stored; the storage daemon
answers RESOURCE_EXHAUSTED with Retry-After, processing spools, and once space is freed the
totals come out exact, nothing lost or doubled."""

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from logctl.formats.combined import CombinedParser
from logctl.metrics.points import aggregate_lines
from logctl.pb import storage_pb2_grpc as spb_grpc
from logctl.services.analytics import MetricsRequest
from logctl.store.base import Batch, Position
from logctl.synthetic import Truth, write_log
from logctl.transport import wire
from logctl.transport.rest.analytics import RestAnalyticsClient
from tests.cluster import health, running_cluster, settle_on, wait_until
from tests.test_reliability import TOTALS, _totals, start_upload

LOGCTL = [sys.executable, "-m", "logctl"]


class SmallDisk:
    """A tmpfs of a given size at a path, whose size can be raised to free space."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        path.mkdir()
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                  str(path)], capture_output=True, text=True)
        if mounted.returncode:
            pytest.skip(f"cannot mount a small file system here: {mounted.stderr.strip()}")

    def grow(self, size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.path)], check=True)

    def remove(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    disk = SmallDisk(tmp_path / "small", "1m")
    try:
        yield disk
    finally:
        disk.remove()


@pytest.fixture(scope="module")
def sparse_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    """60,000 lines at 50 a minute: nearly a point per line, so the database outgrows 1 MiB."""
    path = tmp_path_factory.mktemp("logs") / "sparse.log"
    return path, write_log(str(path), 60_000, seed=5, per_minute=50)


def run(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LOGCTL_")},
           "LOGCTL_HOME": str(home), "LOGCTL_CHUNK_SIZE": "131072"}
    return subprocess.run([*LOGCTL, *args], capture_output=True, text=True, env=env,
                          timeout=300)


def metrics(home: Path) -> dict:
    shown = run(["metrics", "--format", "json"], home)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def test_embedded_ingest_stops_in_one_line_and_resumes_exactly(
        small_disk: SmallDisk, sparse_log: tuple[Path, Truth]) -> None:
    log, truth = sparse_log
    failed = run(["ingest", str(log)], small_disk.path)
    assert failed.returncode == 1, failed.stderr
    lines = [line for line in failed.stderr.splitlines()
             if line.strip() and not line.endswith("format combined")]
    assert lines == [f"error: disk full: cannot write to {small_disk.path / 'logctl.db'}; "
                     "free some space and the write is retried (logctl ingest: run it "
                     "again, it resumes where the stored data ends)"]
    with sqlite3.connect(small_disk.path / "logctl.db") as db:
        (stored_end,) = db.execute("SELECT max(end_offset) FROM batches").fetchone()
    assert 0 < stored_end < log.stat().st_size
    prefix = aggregate_lines(log.read_bytes()[:stored_end], CombinedParser())
    held = metrics(small_disk.path)  # readable on the full disk, and exact for the prefix
    assert _totals(held) == (prefix.requests,
                             sum(p.errors for p in prefix.points.values()),
                             sum(p.client_errors for p in prefix.points.values()),
                             sum(p.bytes for p in prefix.points.values()))
    small_disk.grow("64m")
    done = run(["ingest", str(log)], small_disk.path)
    assert done.returncode == 0, done.stderr
    assert _totals(metrics(small_disk.path)) == (truth.requests, truth.errors,
                                                 truth.client_errors, truth.bytes)


def test_storage_daemon_on_a_full_disk_sheds_then_everything_arrives_once(
        tmp_path: Path, small_disk: SmallDisk, sparse_log: tuple[Path, Truth]) -> None:
    log, truth = sparse_log
    db = small_disk.path / "logctl.db"
    extra = f'db = "{db}"\nchunk_size = 65536\ncall_timeout = 2.0\nretry_budget = 5.0\n'
    with running_cluster(tmp_path / "home", extra=extra) as cluster:
        client, upload_id = start_upload(cluster, log)
        processing = cluster.processing_urls[0]
        wait_until(lambda: health(processing).get("spool", 0) > 0, 120,
                   what=f"processing to spool on the full disk:\n{cluster.output()[-3000:]}")
        channel = grpc.insecure_channel(cluster.storage_grpc)
        many = b"".join(log.read_bytes().splitlines(keepends=True)[-20_000:])  # ~2 MB of points
        batch = Batch("probe", Position("probe", 0, len(many)),
                      aggregate_lines(many, CombinedParser()))
        with pytest.raises(grpc.RpcError) as refused:
            spb_grpc.StorageStub(channel).Write(wire.batch_to_pb(batch),
                                                metadata=cluster.metadata, timeout=30)
        channel.close()
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert refused.value.details().startswith("disk full: cannot write to")
        assert dict(refused.value.trailing_metadata())["retry-after"] == "5"
        small_disk.grow("256m")
        assert client.wait(upload_id, timeout=300)["status"] == "done"
        client.close()
        analytics = RestAnalyticsClient(cluster.urls["analytics"], token=cluster.token)
        settle_on(lambda: _totals(analytics.answer(MetricsRequest(sources=["sparse.log"]))),
                  (truth.requests, truth.errors, truth.client_errors, truth.bytes), 180,
                  TOTALS, lambda: cluster.output()[-3000:])
        analytics.close()
        drained = wait_until(lambda: (h := health(processing))["spool"] == 0 and h, 60,
                             what="the spool to drain")
        assert drained["spool_replayed"] > 0
