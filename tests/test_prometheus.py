"""`GET /metrics` of a REST app: its health in Prometheus text that prometheus-client's
own parser reads back, with the figures `/v1/health` shows, from a registry of its own."""

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from logctl.auth import TokenBook
from logctl.transport.rest.app import create_app


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_parse_and_match_health(tmp_path: Path) -> None:
    tokens = TokenBook(tmp_path)
    app = create_app("storage", tokens, lambda: {
        "queue_depth": 3, "rows": 42, "write_latency_ms": {"p50": 1.5, "p95": None},
        "breakers": {"analytics": "open"}})
    client = TestClient(app, headers={"authorization": f"Bearer {tokens.create('read')}"})
    health = client.get("/v1/health").json()
    assert (health["status"], health["reason"]) == ("degraded", "circuit open to analytics")
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    got = samples(response.text)
    service = (("service", "storage"),)
    assert got[("logctl_state", (("service", "storage"), ("state", "degraded")))] == 1.0
    assert got[("logctl_state", (("service", "storage"), ("state", "ok")))] == 0.0
    assert got[("logctl_requests_total", service)] == 1.0  # the /v1/health call
    assert got[("logctl_queue_depth", service)] == 3.0
    assert got[("logctl_storage_rows", service)] == 42.0
    assert got[("logctl_storage_write_latency_seconds_p50", service)] == 0.0015
    assert ("logctl_storage_write_latency_seconds_p95", service) not in got
    assert got[("logctl_breaker_open", (("peer", "analytics"), ("service", "storage")))] == 1.0
    assert all(name.startswith("logctl_") for name, _ in got)


def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    tokens = TokenBook(tmp_path)
    auth = {"authorization": f"Bearer {tokens.create('read')}"}
    one = TestClient(create_app("ingest", tokens), headers=auth)
    two = TestClient(create_app("ingest", tokens), headers=auth)
    one.get("/v1/health")  # counted; the /metrics call itself is not finished yet
    assert samples(one.get("/metrics").text)[
        ("logctl_requests_total", (("service", "ingest"),))] == 1.0
    assert samples(two.get("/metrics").text)[
        ("logctl_requests_total", (("service", "ingest"),))] == 0.0
