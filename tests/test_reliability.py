"""Nothing lost, nothing counted twice (issue 4), against real daemons: kill -9 of
storage, of a processing instance and of ingest in the middle of a 200k-line upload;
storage hung long enough for the breaker to open and the spool to fill, then back; every
call delivered three times; calls dropped at random; four processing instances at once;
and several processes writing one SQLite file. Totals always equal the generator's."""

import multiprocessing
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from logctl.formats import FormatOptions, make_format
from logctl.metrics.points import aggregate_lines
from logctl.services.analytics import MetricsRequest
from logctl.store.base import Batch, Position, Query
from logctl.store.sqlite import SQLiteStore
from logctl.synthetic import Truth, write_log
from logctl.transport.rest.analytics import RestAnalyticsClient
from logctl.transport.rest.ingest import RestIngestClient
from tests.cluster import Cluster, health, running_cluster, settle_on, wait_until

LINES = 200_000
SLOW = "chunk_size = 65536\ncall_timeout = 2.0\nretry_budget = 60.0\n"


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    path = tmp_path_factory.mktemp("logs") / "big.log"
    return path, write_log(str(path), LINES, seed=42)


def start_upload(cluster: Cluster, log: Path) -> tuple[RestIngestClient, str]:
    client = RestIngestClient(cluster.urls["ingest"], token=cluster.token)
    with open(log, "rb") as handle:
        upload = client.upload(handle, log.name, None)
    return client, upload["id"]


def assert_exact(cluster: Cluster, truth: Truth, source: str = "big.log") -> dict:
    """Wait for the totals to settle, then demand they equal the truth exactly."""
    analytics = RestAnalyticsClient(cluster.urls["analytics"], token=cluster.token)
    asked = MetricsRequest(sources=[source])
    want = (truth.requests, truth.errors, truth.client_errors, truth.bytes)
    try:
        settle_on(lambda: _totals(analytics.answer(asked)), want, 180, TOTALS,
                  lambda: f"daemons said:\n{cluster.output()[-4000:]}")
        body = analytics.answer(asked)
    finally:
        analytics.close()
    assert body["malformed"] == 0
    assert body["latency_ms"]["max"] == max(truth.latencies_ms)
    return body


TOTALS = ("requests", "errors", "client_errors", "bytes")


def _totals(body: dict) -> tuple:
    return (body["requests"], body["errors"], body["client_errors"], body["bytes"])


def wait_for_writes(cluster: Cluster, count: int) -> None:
    wait_until(lambda: health(cluster.urls["storage"]).get("writes", 0) >= count, 120,
               what=f"{count} batches stored")


def kill9(url: str) -> int:
    pid = health(url)["pid"]
    os.kill(pid, signal.SIGKILL)
    return pid


def restarted(url: str, old_pid: int) -> bool:
    try:
        return health(url)["pid"] != old_pid
    except Exception:
        return False


@pytest.fixture
def slow_cluster(tmp_path: Path) -> Iterator[Cluster]:
    with running_cluster(tmp_path / "home", instances=2,
                         extra=SLOW + 'faults = "storage:delay=0.01"') as cluster:
        yield cluster


@pytest.mark.parametrize("victim", ["storage", "processing", "ingest"])
def test_kill_9_mid_ingest_loses_and_repeats_nothing(slow_cluster: Cluster, victim: str,
                                                     big_log: tuple[Path, Truth]) -> None:
    log, truth = big_log
    client, upload_id = start_upload(slow_cluster, log)
    wait_for_writes(slow_cluster, 100)
    url = slow_cluster.processing_urls[0] if victim == "processing" else \
        slow_cluster.urls[victim]
    old = kill9(url)
    wait_until(lambda: restarted(url, old), 60, what=f"{victim} to be restarted")
    done = client.wait(upload_id, timeout=300)
    client.close()
    assert done["status"] == "done", done
    assert_exact(slow_cluster, truth)
    label = "processing.0" if victim == "processing" else victim
    assert f"{label} exited with code -9; restarting it" in slow_cluster.output()


def test_storage_down_opens_the_breaker_fills_then_drains_the_spool(
        tmp_path: Path, big_log: tuple[Path, Truth]) -> None:
    log, truth = big_log
    with running_cluster(tmp_path / "home", instances=1,
                         extra=SLOW.replace("call_timeout = 2.0", "call_timeout = 0.5")
                         + 'faults = "storage:delay=0.01"') as cluster:
        client, upload_id = start_upload(cluster, log)
        wait_for_writes(cluster, 50)
        storage_pid = health(cluster.urls["storage"])["pid"]
        processing = cluster.processing_urls[0]
        os.kill(storage_pid, signal.SIGSTOP)  # hung, not dead: calls time out
        try:
            seen = wait_until(lambda: _spooling(processing), 120,
                              what="the breaker to open and the spool to fill")
        finally:
            os.kill(storage_pid, signal.SIGCONT)
        assert seen["breakers"]["storage"] in ("open", "half_open")
        assert seen["spool"] > 0 and seen["spool_bytes"] > 0
        done = client.wait(upload_id, timeout=300)
        client.close()
        assert done["status"] == "done", done
        assert_exact(cluster, truth)
        drained = wait_until(lambda: _drained(processing), 60, what="the spool to drain")
        assert drained["spool_replayed"] > 0
        assert drained["breakers"]["storage"] == "closed"
        assert drained["breaker_opens"]["storage"] >= 1


def _spooling(url: str) -> dict | None:
    figures = health(url)
    return figures if figures["spool"] >= 3 else None


def _drained(url: str) -> dict | None:
    figures = health(url)
    return figures if figures["spool"] == 0 else None


def test_every_call_delivered_three_times_counts_once(tmp_path: Path,
                                                      big_log: tuple[Path, Truth]) -> None:
    log, truth = big_log
    with running_cluster(tmp_path / "home", instances=2,
                         extra='faults = "storage:duplicate=3;processing:duplicate=3"'
                         ) as cluster:
        client, upload_id = start_upload(cluster, log)
        assert client.wait(upload_id, timeout=300)["status"] == "done"
        client.close()
        assert_exact(cluster, truth)
        storage = health(cluster.urls["storage"])
        assert storage["replays"] >= 2 * storage["writes"] > 0


def test_calls_dropped_at_random_lose_nothing(tmp_path: Path,
                                              big_log: tuple[Path, Truth]) -> None:
    log, truth = big_log
    # 512 KiB chunks: ~60 storage writes, so at least one lost answer (each write's is lost
    # with p = 0.15) is all but certain; with 4 MB chunks, 8 writes lost none 1 run in 4.
    with running_cluster(tmp_path / "home", instances=2, extra=(
            'faults = "storage:drop=0.3;processing:drop=0.3,delay=0.005"\n'
            "chunk_size = 524288")) as cluster:
        client, upload_id = start_upload(cluster, log)
        assert client.wait(upload_id, timeout=300)["status"] == "done"
        client.close()
        assert_exact(cluster, truth)
        assert health(cluster.urls["storage"])["replays"] > 0  # lost answers were resent


def test_four_processing_instances_one_storage(tmp_path: Path,
                                               big_log: tuple[Path, Truth]) -> None:
    log, truth = big_log
    with running_cluster(tmp_path / "home", instances=4,
                         extra="chunk_size = 262144") as cluster:
        client, upload_id = start_upload(cluster, log)
        done = client.wait(upload_id, timeout=300)
        client.close()
        assert done["status"] == "done" and done["error"] is None
        assert_exact(cluster, truth)
        served = [health(url)["requests_total"] for url in cluster.processing_urls]
        assert min(served) > 5, served
        assert "database is locked" not in cluster.output()


def _write_batches(db: str, worker: int, lines: list[bytes]) -> None:
    store = SQLiteStore(Path(db))
    parse = make_format("combined", FormatOptions()).parse_line
    for i in range(0, len(lines), 500):
        data = b"".join(lines[i:i + 500])
        aggregate = aggregate_lines(data, parse)
        store.write_batch(Batch("shared.log", Position(f"w{worker}", i, i + len(data)),
                                aggregate))
    store.close()


def test_several_processes_write_one_sqlite_file(tmp_path: Path) -> None:
    log = tmp_path / "shared.log"
    truth = write_log(str(log), 20_000, seed=5)
    lines = log.read_bytes().splitlines(keepends=True)
    db = str(tmp_path / "shared.db")
    SQLiteStore(Path(db)).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_batches, args=(db, w, lines[w::4]))
               for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    store = SQLiteStore(Path(db))
    rows = store.query(Query(sources=["shared.log"]))
    store.close()
    point = rows[0].point
    assert (point.count, point.errors, point.client_errors, point.bytes) == (
        truth.requests, truth.errors, truth.client_errors, truth.bytes)
