"""Logs pushed to a real ingest daemon by clients nobody here wrote: the OpenTelemetry SDK's
OTLP/HTTP exporter, a Loki push in JSON and in snappy-compressed protobuf (encoded with the
logproto field numbers, compressed by cramjam), and JSON over HTTP as Vector and Fluent Bit
send it. Totals are exact, and a request sent again is counted once."""

import gzip
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import cramjam
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from logctl.pb import loki_pb2
from tests.cluster import (
    Cluster,
    running_cluster,
    settled,
    source_hosts,
    source_summary,
    wait_until,
)
from tests.status_schema import check_status
from tests.test_reliability import kill9, restarted

NINE = 1795597200  # 2026-11-25T09:00:00Z
NGINX = [
    f'203.0.113.9 - - [25/Nov/2026:09:00:{i % 60:02} +0000] "GET /shop/{i} HTTP/1.1" '
    f'{200 if i % 7 else 502} {100 + i} "-" "curl/8.5" 0.{10 + i:03}'
    for i in range(40)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("receivers") / "home") as running:
        yield running


def push(cluster: Cluster, path: str, **kwargs: object) -> httpx.Response:
    return httpx.post(f"{cluster.urls['ingest']}{path}", auth=("shipper", cluster.token),
                      timeout=60, **kwargs)


def test_the_opentelemetry_sdk_exports_access_records(cluster: Cluster) -> None:
    exporter = OTLPLogExporter(endpoint=f"{cluster.urls['ingest']}/v1/logs",
                               headers={"authorization": f"Bearer {cluster.token}"})
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    logger = provider.get_logger("test")
    statuses = [200, 201, 404, 500, 503] * 12
    for i, status in enumerate(statuses):
        logger.emit(timestamp=(NINE + i) * 10**9, body="request done", attributes={
            "http.request.method": "POST" if i % 3 else "GET",
            "http.response.status_code": status, "url.path": f"/cart/{i % 4}",
            "http.response.body.size": 1000 + i, "server.address": "shop.example",
            "http.server.request.duration": (i + 1) / 1000})
    assert provider.force_flush(30_000)
    provider.shutdown()
    body = settled(cluster, "checkout", 60)
    assert (body["errors"], body["client_errors"], body["bytes"]) == (24, 12, 60 * 1000 + 1770)
    assert body["latency_ms"]["max"] == 60.0
    assert body["first"] == "2026-11-25T09:00:00Z" and body["last"] == "2026-11-25T09:00:59Z"


def otlp_json(records: list[dict]) -> dict:
    """An export shaped as the OTLP specification's JSON example (examples/logs.json)."""
    return {"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name",
                                     "value": {"stringValue": "json-export"}}]},
        "scopeLogs": [{"scope": {"name": "my.library", "version": "1.0.0"},
                       "logRecords": records}]}]}


def test_otlp_json_with_a_raw_line_and_a_rejected_record(cluster: Cluster) -> None:
    records = [
        {"timeUnixNano": str((NINE + 5) * 10**9), "severityNumber": 9, "severityText": "INFO",
         "body": {"stringValue": "GET /a"}, "traceId": "5b8efff798038103d269b633813fc60c",
         "spanId": "eee19b7ec3c1b174",
         "attributes": [{"key": "http.request.method", "value": {"stringValue": "GET"}},
                        {"key": "http.response.status_code", "value": {"intValue": "503"}},
                        {"key": "url.path", "value": {"stringValue": "/a"}}]},
        {"timeUnixNano": str((NINE + 6) * 10**9), "body": {"stringValue": NGINX[0]}},
        {"timeUnixNano": str((NINE + 7) * 10**9), "body": {"intValue": "7"}},
    ]
    answer = push(cluster, "/v1/logs", json=otlp_json(records))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"partialSuccess": {
        "rejectedLogRecords": "1",
        "errorMessage": "1 log records carry neither HTTP attributes nor a text body"}}
    body = settled(cluster, "json-export", 2)
    assert (body["errors"], body["bytes"]) == (2, 100)  # the 503, and the nginx line's 502


def loki_lines(lines: list[str]) -> list[list[str]]:
    return [[str((NINE + i) * 10**9), line] for i, line in enumerate(lines)]


def test_loki_json_and_snappy_protobuf_give_the_same_totals(cluster: Cluster) -> None:
    as_json = {"streams": [{"stream": {"job": "web-json", "host": "web1"},
                            "values": loki_lines(NGINX[:25])},
                           {"stream": {"job": "web-json", "host": "web2"},
                            "values": loki_lines(NGINX[25:])}]}
    assert push(cluster, "/loki/api/v1/push", json=as_json).status_code == 204
    request = loki_pb2.PushRequest()
    for part, host in ((NGINX[:25], "web1"), (NGINX[25:], "web2")):
        stream = request.streams.add(labels=f'{{job="web-proto", host="{host}"}}')
        for i, line in enumerate(part):
            entry = stream.entries.add(line=line)
            entry.timestamp.FromNanoseconds((NINE + i) * 10**9)
    packed = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
    headers = {"content-type": "application/x-protobuf", "content-encoding": "snappy"}
    assert push(cluster, "/loki/api/v1/push", content=packed, headers=headers
                ).status_code == 204
    by_json, by_proto = settled(cluster, "web-json", 40), settled(cluster, "web-proto", 40)
    for key in ("requests", "errors", "bytes", "latency_ms"):
        assert by_json[key] == by_proto[key]
    assert (by_json["errors"], by_json["bytes"]) == (6, 40 * 100 + 780)
    for source in ("web-json", "web-proto"):  # the host label, for lines that name none
        assert source_hosts(cluster, source) == {"web1": 25, "web2": 15}
    assert push(cluster, "/loki/api/v1/push", content=packed,  # sent again, as Promtail
                headers={"content-type": "application/x-protobuf"}  # does (no encoding)
                ).status_code == 204  # counted once
    assert source_summary(cluster, "web-proto")["requests"] == 40


def test_json_over_http_as_vector_and_fluent_bit_send_it(cluster: Cluster) -> None:
    records = [{"time": f"2026-11-25T09:01:{i:02}Z", "method": "GET", "path": f"/api/{i}",
                "status": 200 if i % 5 else 500, "bytes": 10, "duration_ms": i}
               for i in range(30)]
    ndjson = gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode())
    headers = {"content-type": "application/x-ndjson", "content-encoding": "gzip",
               "idempotency-key": "fluent-bit-chunk-1"}
    answer = push(cluster, "/v1/events", params={"source": "vector"}, content=ndjson,
                  headers=headers)
    assert answer.json() == {"accepted": 30, "rejected": 0}
    array = push(cluster, "/v1/events", params={"source": "vector"},
                 json=[*records[:10], "not a record"])
    assert array.json() == {"accepted": 10, "rejected": 1}
    body = settled(cluster, "vector", 40)
    assert (body["errors"], body["bytes"]) == (8, 400)
    again = push(cluster, "/v1/events", params={"source": "vector"}, content=ndjson,
                 headers=headers)
    assert again.status_code == 200
    assert source_summary(cluster, "vector")["requests"] == 40


def test_receivers_refuse_bad_bodies_and_missing_tokens(cluster: Cluster) -> None:
    bad = push(cluster, "/v1/logs", content=b"\xff\x00garbage",
               headers={"content-type": "application/x-protobuf"})
    assert bad.status_code == 400
    assert "not an OTLP logs export" in bad.json()["error"]["message"]
    bomb = push(cluster, "/v1/events", params={"source": "x"},
                content=gzip.compress(b"{}\n" * (40 * 1024 * 1024)),
                headers={"content-type": "application/x-ndjson", "content-encoding": "gzip"})
    assert bomb.status_code == 413
    anonymous = httpx.post(f"{cluster.urls['ingest']}/loki/api/v1/push", json={"streams": []})
    assert anonymous.status_code == 401
    health = httpx.get(f"{cluster.urls['ingest']}/v1/health",
                       headers={"authorization": f"Bearer {cluster.token}"}).json()
    assert set(health["receivers"]) >= {"loki"}
    assert all(figures["requests"] >= 1 for figures in health["receivers"].values())



def test_status_shows_each_receiver(cluster: Cluster) -> None:
    """`logctl status --json` (through the monitor) lists every receiver that took data,
    with the records the ingest daemon counted (since it started: before the kill below)."""
    def receivers() -> dict:
        shown = subprocess.run([sys.executable, "-m", "logctl", "status", "--json", "--remote",
                                cluster.urls["monitor"], "--token", cluster.token],
                               capture_output=True, text=True, timeout=60)
        body = json.loads(shown.stdout)
        check_status(body)
        return {r["name"]: r for r in body["pipeline"]["receivers"]}

    shown = wait_until(lambda: {"otlp", "loki", "events"} <= set(rows := receivers()) and rows,
                       30, what="the receivers in logctl status")
    health = httpx.get(f"{cluster.urls['ingest']}/v1/health",
                       headers={"authorization": f"Bearer {cluster.token}"}).json()
    for name in ("otlp", "loki", "events"):
        assert shown[name]["records"] == health["receivers"][name]["records"]
    assert shown["otlp"]["rejected"] == 1


def test_kill_9_of_ingest_while_a_shipper_sends_loses_and_repeats_nothing(
        cluster: Cluster) -> None:
    """A shipper sends 40 pushes and resends each until it is acknowledged, as Vector and
    Fluent Bit do; ingest is killed -9 after the 10th ack and restarted by its supervisor.
    Every acknowledged record is stored, and none twice (a push stored just before the
    kill, whose answer was lost, is recognised when it comes again)."""
    acked: list[int] = []

    def ship() -> None:
        for n in range(40):
            body = "".join(json.dumps({"time": f"2026-11-25T10:{n:02}:{i:02}Z", "method": "GET",
                                       "path": "/k", "status": 200, "bytes": n}) + "\n"
                           for i in range(50)).encode()
            deadline = time.monotonic() + 90
            while True:
                try:
                    if push(cluster, "/v1/events", params={"source": "shipper"}, content=body,
                            headers={"content-type": "application/x-ndjson"}
                            ).status_code == 200:
                        acked.append(n)
                        time.sleep(0.05)
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"push {n} never acknowledged"
                time.sleep(0.2)

    shipper = threading.Thread(target=ship)
    shipper.start()
    wait_until(lambda: len(acked) >= 10, 60, what="10 acknowledged pushes")
    old = kill9(cluster.urls["ingest"])
    at_kill = len(acked)
    wait_until(lambda: restarted(cluster.urls["ingest"], old), 60, what="ingest restarted")
    shipper.join(120)
    assert at_kill < 40  # pushes were still to come when ingest died
    assert acked == list(range(40))
    body = settled(cluster, "shipper", 40 * 50)
    assert body["bytes"] == 50 * sum(range(40))

