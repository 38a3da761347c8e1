"""Storage and processing behave the same in-process and across the wire: a batch is
applied once and replays are recognised, its rows read back identically over gRPC and
REST, and a chunk sent to a processing daemon is acknowledged like a local one."""

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from logctl.formats import FormatOptions, make_format
from logctl.metrics.points import aggregate_lines
from logctl.services.contracts import ChunkRequest, FormatSpec
from logctl.services.processing import ParsePool, ProcessingService
from logctl.services.storage import StorageService
from logctl.store.base import Batch, Position, Query
from logctl.store.sqlite import SQLiteStore
from logctl.transport.grpc.storage import GrpcStorageClient
from logctl.transport.rest.processing import RestProcessingClient
from logctl.transport.rest.storage import RestStorageClient
from tests.cluster import Cluster

APACHE = Path(__file__).parents[1] / "data" / "apache_logs.log"


def apache_batch(source: str) -> Batch:
    data = APACHE.read_bytes()
    parse = make_format("combined", FormatOptions()).parse_line
    return Batch(source, Position(f"id-{source}", 0, len(data)), aggregate_lines(data, parse))


@pytest.fixture(params=["local", "grpc"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    if request.param == "local":
        service = StorageService(lambda: SQLiteStore(tmp_path / "m.db"))
        yield service
        service.close()
        return
    cluster = request.getfixturevalue("cluster")
    client = GrpcStorageClient(cluster.storage_grpc, token=cluster.token)
    yield client
    client.close()


def test_a_batch_applies_once(storage) -> None:
    source = f"s{uuid.uuid4().hex[:10]}"
    batch = apache_batch(source)
    assert storage.committed_end(f"id-{source}") is None
    assert storage.write_batch(batch) is True
    assert storage.write_batch(batch) is False
    assert storage.committed_end(f"id-{source}") == APACHE.stat().st_size
    rows = storage.query(Query(sources=[source]))
    assert [(r.point.count, r.point.errors, r.point.bytes, r.malformed) for r in rows] == [
        (9999, 3, 2747282505, 1)]
    coverage = storage.coverage(Query(sources=[source]))
    assert (coverage.first, coverage.last) == (1431857100.0, 1432155959.0)


def test_rows_read_the_same_over_grpc_rest_and_in_process(cluster: Cluster,
                                                           tmp_path: Path) -> None:
    source = f"r{uuid.uuid4().hex[:10]}"
    batch = apache_batch(source)
    local = StorageService(lambda: SQLiteStore(tmp_path / "m.db"))
    grpc_client = GrpcStorageClient(cluster.storage_grpc, token=cluster.token)
    rest_client = RestStorageClient(cluster.urls["storage"], token=cluster.token)
    try:
        local.write_batch(batch)
        grpc_client.write_batch(batch)
        for query in (Query(sources=[source], group_by="route"),
                      Query(sources=[source], step_minutes=60, start=1431900000.0,
                            end=1431950000.0),
                      Query(sources=[source], group_by="status", statuses=["4xx"]),
                      Query(sources=[source], group_by="source,host,method,route,status",
                            histograms=False)):
            expected = _comparable(local.query(query))
            assert _comparable(grpc_client.query(query)) == expected
            assert _comparable(rest_client.query(query)) == expected
            assert expected
    finally:
        local.close()
        grpc_client.close()
        rest_client.close()


def _comparable(rows: list) -> list:
    return sorted((r.key, r.bucket, r.malformed, r.point.as_tuple()) for r in rows)


def test_processing_daemon_acks_like_local(cluster: Cluster, tmp_path: Path) -> None:
    source = f"p{uuid.uuid4().hex[:10]}"
    data = APACHE.read_bytes()
    half = len(b"".join(data.splitlines(keepends=True)[:5000]))
    spec = FormatSpec("combined", now=time.time())
    chunks = [ChunkRequest(source, Position(f"id-{source}", 0, half), spec, data[:half]),
              ChunkRequest(source, Position(f"id-{source}", half, len(data)), spec,
                           data[half:])]
    local_store = StorageService(lambda: SQLiteStore(tmp_path / "m.db"))
    local = ProcessingService(local_store, ParsePool(0), in_flight=1)
    remote = RestProcessingClient(cluster.processing_urls, token=cluster.token)
    try:
        expected = list(local.process(chunks))
        assert list(remote.process(chunks)) == expected
        assert [(a.lines, a.requests, a.malformed, a.applied) for a in expected] == [
            (5000, 5000, 0, True), (5000, 4999, 1, True)]
        replayed = list(remote.process(chunks))
        assert [a.applied for a in replayed] == [False, False]
    finally:
        local_store.close()
        remote.close()


def test_a_chunk_carries_its_header_and_host_over_rest(cluster: Cluster,
                                                       tmp_path: Path) -> None:
    """A W3C chunk without its #Fields: line is read by the header sent with it, and a
    host given with a chunk goes to the records that name none: in process and through a
    processing daemon alike."""
    source = f"w{uuid.uuid4().hex[:10]}"
    header = "#Fields: date time cs-method cs-uri-stem sc-status time-taken"
    data = b"".join(b"2019-06-10 00:00:%02d GET /p %d 5\n" % (i, 500 if i < 3 else 200)
                    for i in range(12))
    spec = FormatSpec("w3c", now=time.time(), header=header, host="edge1")
    chunk = [ChunkRequest(source, Position(f"id-{source}", 0, len(data)), spec, data)]
    local_store = StorageService(lambda: SQLiteStore(tmp_path / "m.db"))
    local = ProcessingService(local_store, ParsePool(0), in_flight=1)
    remote = RestProcessingClient(cluster.processing_urls, token=cluster.token)
    try:
        (expected,) = list(local.process(chunk))
        assert list(remote.process(chunk)) == [expected]
        assert (expected.lines, expected.requests, expected.malformed) == (12, 12, 0)
        rows = local_store.query(Query(sources=[source], group_by="host"))
        assert [(r.key, r.point.count, r.point.errors) for r in rows] == [("edge1", 12, 3)]
    finally:
        local_store.close()
        remote.close()
