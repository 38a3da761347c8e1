"""The same questions through every wiring (in-process, REST, gRPC) give the same
answers, and the exact figures of the real Apache sample."""

import uuid
from pathlib import Path

import pytest

from logctl.services.analytics import MetricsRequest
from tests.cluster import Cluster
from tests.contract.conftest import WIRINGS, Wiring, make_wiring

APACHE = Path(__file__).parents[1] / "data" / "apache_logs.log"


@pytest.fixture
def loaded(wiring: Wiring, source_name: str) -> Wiring:
    report = wiring.ingest_file(APACHE, source_name)
    assert report == {"lines": 10000, "requests": 9999, "malformed": 1}
    return wiring


def test_summary_is_exact(loaded: Wiring, source_name: str) -> None:
    body = loaded.ask(MetricsRequest(sources=[source_name]))
    assert body == {
        "requests": 9999, "errors": 3, "client_errors": 217, "error_rate": 0.0003,
        "bytes": 2747282505, "malformed": 1, "latency_ms": None,
        "first": "2015-05-17T10:05:00Z", "last": "2015-05-20T21:05:59Z",
    }


def test_range_across_the_realtime_cut_is_exact(loaded: Wiring, source_name: str) -> None:
    """Daemons answer this from two storage transports merged; in-process from one."""
    whole = loaded.ask(MetricsRequest(since="2015-05-17T00:00", until="2015-05-21T00:00",
                                      sources=[source_name]))
    early = loaded.ask(MetricsRequest(since="2015-05-17T00:00", until="2015-05-19T00:00",
                                      sources=[source_name]))
    late = loaded.ask(MetricsRequest(since="2015-05-19T00:00", sources=[source_name]))
    assert (whole["requests"], whole["errors"], whole["bytes"]) == (9999, 3, 2747282505)
    assert early["requests"] + late["requests"] == 9999
    assert (early["requests"], late["requests"]) == (4525, 5474)


def test_top_statuses(loaded: Wiring, source_name: str) -> None:
    body = loaded.ask(MetricsRequest(by="status", top=3, sources=[source_name]))
    assert [(g["key"], g["requests"]) for g in body["groups"]] == [
        ("200", 9125), ("304", 445), ("404", 213)]


def test_daily_series_with_filters(loaded: Wiring, source_name: str) -> None:
    body = loaded.ask(MetricsRequest(step="1d", statuses=["4xx", "5xx"], methods=["get"],
                                     sources=[source_name]))
    assert [(e["t"], e["requests"]) for e in body["series"]] == [
        ("2015-05-17T00:00:00Z", 30), ("2015-05-18T00:00:00Z", 66),
        ("2015-05-19T00:00:00Z", 63), ("2015-05-20T00:00:00Z", 49)]


def test_grouped_series(loaded: Wiring, source_name: str) -> None:
    body = loaded.ask(MetricsRequest(step="1d", by="method", top=1, since="2015-05-20",
                                     sources=[source_name]))
    assert body == {"series": [{"t": "2015-05-20T00:00:00Z", "groups": [{
        "key": "GET", "requests": 2561, "errors": 0, "client_errors": 49, "error_rate": 0.0,
        "bytes": 878546188, "malformed": 0, "latency_ms": None,
        "first": "2015-05-20T00:05:00Z", "last": "2015-05-20T21:05:59Z"}]}]}


def test_answers_are_identical_across_wirings(cluster: Cluster, tmp_path: Path) -> None:
    """Every field, not just the counts: what one wiring says, the others say too."""
    source = f"same-{uuid.uuid4().hex[:8]}.log"
    asked = [MetricsRequest(sources=[source]),
             MetricsRequest(by="route", top=5, sources=[source]),
             MetricsRequest(step="1h", since="2015-05-18T10:00", until="2015-05-18T13:00",
                            by="status_class", sources=[source])]
    answers = {}
    for name in WIRINGS:
        with make_wiring(name, tmp_path, None if name == "local" else cluster) as wiring:
            if name != "grpc":  # rest and grpc share the daemons: one upload serves both
                wiring.ingest_file(APACHE, source)
            answers[name] = [wiring.ask(q) for q in asked]
    assert answers["rest"] == answers["local"]
    assert answers["grpc"] == answers["local"]
    summary, routes, series = answers["local"]
    assert summary["requests"] == 9999
    assert [g["key"] for g in routes["groups"]][:2] == ["/favicon.ico", "/"]
    assert [e["t"] for e in series["series"]] == [
        "2015-05-18T10:00:00Z", "2015-05-18T11:00:00Z", "2015-05-18T12:00:00Z"]


def test_top_by_two_dimensions(loaded: Wiring, source_name: str) -> None:
    """Grouped by route and status, a key is the list of both values, in every wiring."""
    body = loaded.ask(MetricsRequest(by="route,status", top=3, sources=[source_name]))
    assert [(g["key"], g["requests"], g["client_errors"]) for g in body["groups"]] == [
        (["/favicon.ico", "200"], 796, 0), (["/", "200"], 575, 0),
        (["/style2.css", "200"], 532, 0)]


def test_two_dimension_groups_add_up_to_one(loaded: Wiring, source_name: str) -> None:
    by_status = loaded.ask(MetricsRequest(by="status", sources=[source_name]))
    by_both = loaded.ask(MetricsRequest(by="method,status", sources=[source_name]))
    totals: dict[str, int] = {}
    for group in by_both["groups"]:
        totals[group["key"][1]] = totals.get(group["key"][1], 0) + group["requests"]
    assert totals == {g["key"]: g["requests"] for g in by_status["groups"]}
    assert len(by_both["groups"]) == 14
