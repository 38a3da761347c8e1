"""End to end through real daemons: files dropped into a watched directory (new, grown,
rotated, gzip) and uploads from two processing instances at once come out exact through
both REST and gRPC analytics; bad input over the wire gets a 4xx (gRPC INVALID_ARGUMENT)
with a JSON error and never takes a daemon down; SIGTERM stops the whole tree."""

import gzip
import json
import threading
from array import array
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from logctl.pb import analytics_pb2 as apb
from logctl.pb import analytics_pb2_grpc as apb_grpc
from logctl.pb import storage_pb2 as spb
from logctl.pb import storage_pb2_grpc as spb_grpc
from logctl.services.analytics import MetricsRequest
from logctl.synthetic import Truth, generate
from logctl.transport.grpc.analytics import GrpcAnalyticsClient
from logctl.transport.rest.analytics import RestAnalyticsClient
from logctl.transport.rest.ingest import RestIngestClient
from tests.cluster import Cluster, health, running_cluster, settle_on, wait_until


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("daemons")
    roots = f'allowed_roots = ["{tmp_path_factory.getbasetemp()}"]'
    with running_cluster(home, instances=2,
                         extra=f"chunk_size = 65536\nmax_body = 1048576\n{roots}") as running:
        yield running


def lines(count: int, seed: int, truth: Truth) -> str:
    return "".join(generate(count, seed=seed, truth=truth))


def totals(body: dict) -> tuple:
    return (body["requests"], body["errors"], body["client_errors"], body["bytes"],
            body["malformed"])


def expected(truth: Truth) -> tuple:
    return (truth.requests, truth.errors, truth.client_errors, truth.bytes, 0)


def settle(cluster: Cluster, source: str, truth: Truth) -> None:
    """Wait until REST analytics shows the truth for a source, then check gRPC agrees."""
    rest = RestAnalyticsClient(cluster.urls["analytics"], token=cluster.token)
    rpc = GrpcAnalyticsClient(cluster.analytics_grpc, token=cluster.token)
    asked = MetricsRequest(sources=[source])
    try:
        settle_on(lambda: totals(rest.answer(asked)), expected(truth), 120,
                  ("requests", "errors", "client_errors", "bytes", "malformed"),
                  lambda: f"{source}; daemons said:\n{cluster.output()[-3000:]}")
        body = rpc.answer(asked)
        assert totals(body) == expected(truth)
        assert body == rest.answer(asked)
        assert body["latency_ms"]["max"] == max(truth.latencies_ms)
    finally:
        rest.close()
        rpc.close()


def test_watched_directory_new_grown_rotated_and_gzip(cluster: Cluster,
                                                      tmp_path: Path) -> None:
    watched = tmp_path / "logs"
    watched.mkdir()
    ingest = RestIngestClient(cluster.urls["ingest"], token=cluster.token)
    added = ingest.add_source(str(watched), [])
    assert added["globs"] == ["*.log", "*.log.gz", "*.log.zst"]
    web, archive = Truth(), Truth()
    log = watched / "web.log"

    log.write_text(lines(3000, 1, web))
    settle(cluster, "web.log", web)

    with open(log, "a") as handle:
        handle.write(lines(2000, 2, web))
    settle(cluster, "web.log", web)

    with open(log, "a") as handle:  # lines written just before rotation...
        handle.write(lines(1500, 3, web))
    log.rename(watched / "web.log.1")  # ...are finished under the rotated name
    log.write_text(lines(1000, 4, web))
    settle(cluster, "web.log", web)

    partial = tmp_path / "archive.log.gz"
    partial.write_bytes(gzip.compress(lines(2500, 5, archive).encode()))
    partial.rename(watched / "archive.log.gz")
    settle(cluster, "archive.log", archive)

    files = {f["path"]: f for s in ingest.sources()["sources"] for f in s["files"]}
    assert files[str(log)]["lag_bytes"] == 0
    assert files[str(log)]["offset"] == log.stat().st_size
    ingest.close()


def test_two_processing_instances_give_exact_totals(cluster: Cluster, tmp_path: Path) -> None:
    truth = Truth()
    path = tmp_path / "big.log"
    path.write_text(lines(40_000, 7, truth))  # about 6 MB: ~90 chunks of 64 KiB
    before = [health(url)["requests_total"] for url in cluster.processing_urls]
    client = RestIngestClient(cluster.urls["ingest"], token=cluster.token)
    with open(path, "rb") as handle:
        upload = client.upload(handle, "big.log", None)
    done = client.wait(upload["id"], timeout=240)
    client.close()
    assert done["status"] == "done", f"{done}\n{cluster.output()[-3000:]}"
    assert done["report"]["requests"] == 40_000
    settle(cluster, "big.log", truth)
    served = [health(url)["requests_total"] - b for url, b in
              zip(cluster.processing_urls, before, strict=True)]
    assert min(served) >= 40, served  # both instances took a fair share of the chunks


def test_watch_streams_new_minutes(cluster: Cluster, tmp_path: Path) -> None:
    truth = Truth()
    path = tmp_path / "live.log"
    path.write_text(lines(600, 9, truth))  # 600 lines at 10,000 a minute: one minute
    channel = grpc.insecure_channel(cluster.analytics_grpc)
    stream = apb_grpc.AnalyticsStub(channel).Watch(apb.MetricsRequest(sources=["live.log"]),
                                                     metadata=cluster.metadata)
    received: list = []
    reader = threading.Thread(target=_read_until, args=(stream, received, 600), daemon=True)
    reader.start()
    wait_until(lambda: _watching(cluster), 10, what="the watch to be open")
    client = RestIngestClient(cluster.urls["ingest"], token=cluster.token)
    with open(path, "rb") as handle:
        client.wait(client.upload(handle, "live.log", None)["id"])
    client.close()
    reader.join(30)
    stream.cancel()
    channel.close()
    counts = [e.summary.requests for e in received]
    assert {e.t for e in received} == {"2025-06-01T00:00:00Z"}
    assert counts == sorted(counts)  # each update is the minute as it now stands
    assert counts[-1] == 600


def _read_until(stream, received: list, requests: int) -> None:
    """Collect entries until the minute holds `requests` (an upload lands chunk by chunk)."""
    for entry in stream:
        received.append(entry)
        if entry.summary.requests >= requests:
            return


def _watching(cluster: Cluster) -> bool:
    return health(cluster.urls["storage"])["watchers"] >= 1


@pytest.mark.parametrize(("path", "params", "headers", "content", "status"), [
    ("/v1/chunks", {"source": "x"}, {"content-type": "application/octet-stream"}, b"a\n", 422),
    ("/v1/chunks", {"source": "x", "source_id": "i", "start": 0, "end": 2, "format": "combined"},
     {"content-type": "application/json"}, b"{}", 415),
    ("/v1/chunks", {"source": "x", "source_id": "i", "start": 0, "end": 2, "format": "nope"},
     {"content-type": "application/octet-stream"}, b"a\n", 400),
    ("/v1/chunks", {"source": "x", "source_id": "i", "start": 0, "end": 2, "format": "combined"},
     {"content-type": "application/octet-stream"}, b"abc\n", 400),
    ("/v1/chunks", {"source": "x", "source_id": "i", "start": 0, "end": 2_000_000,
                    "format": "combined"},
     {"content-type": "application/octet-stream"}, b"x" * 1_500_000, 413),
])
def test_bad_chunks_get_a_json_4xx(cluster: Cluster, path: str, params: dict, headers: dict,
                                   content: bytes, status: int) -> None:
    response = httpx.post(cluster.processing_urls[0] + path, params=params,
                          headers={**headers, **cluster.auth}, content=content)
    assert response.status_code == status
    assert set(response.json()["error"]) == {"code", "message"}
    assert health(cluster.processing_urls[0])["status"] == "ok"


@pytest.mark.parametrize(("body", "status"), [
    (b"{not json", 422),
    (json.dumps({"path": "/tmp", "unknown": 1}).encode(), 422),
    (json.dumps({"path": "/no/such/dir"}).encode(), 403),
])
def test_bad_sources_get_a_json_4xx(cluster: Cluster, body: bytes, status: int) -> None:
    response = httpx.post(cluster.urls["ingest"] + "/v1/sources", content=body,
                          headers={"content-type": "application/json", **cluster.auth})
    assert response.status_code == status
    assert response.json()["error"]["message"]


@pytest.mark.parametrize(("path", "params", "status"), [
    ("/v1/metrics/top", {}, 422),
    ("/v1/metrics/top", {"by": "colour"}, 400),
    ("/v1/metrics/summary", {"since": "yesterday-ish"}, 400),
    ("/v1/metrics/timeseries", {"step": "90s"}, 400),
    ("/v1/metrics/summary", {"status": "6xx"}, 400),
    ("/v1/nothing", {}, 404),
])
def test_bad_queries_get_a_json_4xx(cluster: Cluster, path: str, params: dict,
                                    status: int) -> None:
    response = httpx.get(cluster.urls["analytics"] + path, params=params, headers=cluster.auth)
    assert response.status_code == status
    assert response.json()["error"]["code"]


def test_bad_grpc_calls_are_invalid_argument(cluster: Cluster) -> None:
    with grpc.insecure_channel(cluster.storage_grpc) as channel:
        storage = spb_grpc.StorageStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            storage.Write(spb.Batch(source="x"), timeout=10, metadata=cluster.metadata)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as caught:
            storage.Query(spb.RangeQuery(group_by="colour"), timeout=10,
                          metadata=cluster.metadata)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        unsorted = array("i", [5, 1, 3, 1]).tobytes()  # bins descending: no encoder wrote it
        corrupt = spb.Batch(source="x", position=spb.Position(source_id="c", start=0, end=1),
                            points=[spb.KeyedPoint(minute=60, method="GET", route="/",
                                                   status=200, point=spb.Point(
                                                       count=2, latency_count=2,
                                                       hist=unsorted))])
        with pytest.raises(grpc.RpcError) as caught:
            storage.Write(corrupt, timeout=10, metadata=cluster.metadata)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "corrupted latency histogram" in caught.value.details()
        packed = dict(hosts=[""], methods=["GET"], routes=["/"], statuses=[200], series=[0],
                      minutes=[60], counts=[2], errors=[0], client_errors=[0], bytes=[9],
                      latency_counts=[2], latency_sums=[3.0], latency_maxes=[2.0],
                      firsts=[60.0], lasts=[61.0], hist_sizes=[len(unsorted)], hists=unsorted)
        for columns, why in ((packed, "corrupted latency histogram"),
                             ({**packed, "series": [1]}, "do not line up"),
                             ({**packed, "counts": [2, 3]}, "do not line up"),
                             ({**packed, "hist_sizes": [4]}, "do not line up")):
            batch = spb.Batch(source="x", position=spb.Position(source_id="p", start=0, end=1),
                              packed=spb.PackedPoints(**columns))
            with pytest.raises(grpc.RpcError) as caught:
                storage.Write(batch, timeout=10, metadata=cluster.metadata)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert why in caught.value.details()
    with grpc.insecure_channel(cluster.analytics_grpc) as channel:
        analytics = apb_grpc.AnalyticsStub(channel)
        for call, message in ((analytics.Top, apb.MetricsRequest()),
                              (analytics.Summary, apb.MetricsRequest(since="soon"))):
            with pytest.raises(grpc.RpcError) as caught:
                call(message, timeout=10, metadata=cluster.metadata)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert health(cluster.urls["storage"])["status"] == "ok"


def test_sigterm_stops_the_whole_tree(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "home") as small:
        pids = [health(url)["pid"] for url in
                [*small.urls.values(), *small.processing_urls]]
    assert small.process.returncode == 0
    assert "stopped" in small.output()
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]
