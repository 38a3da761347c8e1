"""The monitor against fake services (httpx MockTransport, a fixed clock): states after
failed polls, alerts firing and resolving, pipeline figures, traffic from analytics, and
its per-minute samples stored exactly once."""

import asyncio
from pathlib import Path

import httpx

from logctl.services.alerts import Alert
from logctl.services.monitor import Monitor, MonitorSettings, Peers
from logctl.services.samples import SOURCE
from logctl.services.storage import StorageService
from logctl.store.base import Query
from logctl.store.sqlite import SQLiteStore
from logctl.transport.rest.peers import RestHealthProbe, RestTrafficSource

HEALTH = {"status": "ok", "reason": "", "requests_per_s": 2.5, "error_rate": 0.0,
          "cpu_percent": 1.5, "rss_bytes": 1000}


class Cluster:
    """Fake services: each answers its health unless marked down."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.lines = 0
        self.traffic = [{"t": "2026-01-01T00:00:00Z", "requests": 50, "errors": 5,
                         "error_rate": 0.1, "latency_ms": {"p95": 80.0}}]

    def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host in self.down:
            raise httpx.ConnectError("refused", request=request)
        if request.url.path == "/v1/metrics/top":
            return httpx.Response(200, json={"groups": [{"key": "web.log"},
                                                        {"key": SOURCE}]})
        if request.url.path == "/v1/metrics/timeseries":
            assert request.url.params.get_list("source") == ["web.log"]
            return httpx.Response(200, json={"series": self.traffic})
        extra = {"lines": self.lines, "lag_bytes": 10, "lag_s": 3.0} if host == "ingest" else {}
        return httpx.Response(200, json={**HEALTH, **extra})


def run(monitor: Monitor, cluster: Cluster, rounds: int = 1) -> None:
    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(cluster.handle)) as client:
            peers = Peers(RestHealthProbe(client), RestTrafficSource(client, "http://analytics"))
            for _ in range(rounds):
                await monitor.poll_once(peers)
    asyncio.run(go())


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def new_monitor(clock: Clock, sent: list[Alert], storage: object = None) -> Monitor:
    targets = {name: f"http://{name}" for name in ("ingest", "storage", "analytics")}
    return Monitor(targets, MonitorSettings(2.0, instance="test:1"),
                   storage, sent.extend, clock)  # type: ignore[arg-type]


def test_down_after_two_failed_polls_alert_after_three_then_resolved() -> None:
    clock, sent, cluster = Clock(1_800_000_000.0), [], Cluster()
    monitor = new_monitor(clock, sent)
    run(monitor, cluster)
    assert [t.state for t in monitor.targets] == ["ok", "ok", "ok"]
    cluster.down.add("storage")
    states = []
    for _ in range(3):
        clock.now += 2
        run(monitor, cluster)
        states.append(monitor.targets[1].state)
    assert states == ["degraded", "down", "down"]
    assert monitor.targets[1].reason == "connection refused"
    assert [(a.rule, a.subject, a.state) for a in sent if a.rule == "service_down"] == [
        ("service_down", "storage", "firing")]
    cluster.down.clear()
    clock.now += 2
    run(monitor, cluster)
    assert monitor.targets[1].state == "ok"
    assert [(a.subject, a.state, a.since, a.resolved_at) for a in sent
            if a.rule == "service_down"] == [
        ("storage", "firing", 1_800_000_006.0, None),
        ("storage", "resolved", 1_800_000_006.0, 1_800_000_008.0)]


def test_snapshot_pipeline_traffic_and_data_alert() -> None:
    clock, sent, cluster = Clock(1_800_000_000.0), [], Cluster()
    monitor = new_monitor(clock, sent)
    run(monitor, cluster)
    cluster.lines = 500
    clock.now += 2
    run(monitor, cluster)
    snap = monitor.snapshot()
    assert [s["name"] for s in snap["services"]] == ["ingest", "storage", "analytics"]
    assert [p["lines_per_s"] for p in snap["pipeline"]["history"]] == [0.0, 250.0]
    assert (snap["pipeline"]["lines_per_s"], snap["pipeline"]["lag_bytes"],
            snap["pipeline"]["lag_s"]) == (250.0, 10, 3.0)
    assert snap["traffic"] == [{"t": "2026-01-01T00:00:00Z", "requests": 50, "errors": 5,
                                "error_rate": 0.1, "p95_ms": 80.0}]
    assert [(a["rule"], a["value"]) for a in snap["alerts"]] == [("http_5xx", 10.0)]
    assert snap["services"][0]["requests_per_s"] == 2.5
    assert len(snap["services"][0]["history"]) == 2


def test_minutes_are_stored_once_as_monitor_batches(tmp_path: Path) -> None:
    storage = StorageService(lambda: SQLiteStore(tmp_path / "m.db"))
    clock, sent, cluster = Clock(1_800_000_000.0), [], Cluster()  # a minute's start
    monitor = new_monitor(clock, sent, storage)
    cluster.down.add("analytics")
    for _ in range(3):
        run(monitor, cluster)
        clock.now += 20
    assert storage.writes == 0  # the minute is not complete until the clock passes it
    run(monitor, cluster)
    assert storage.writes == 1
    minute = 1_800_000_000
    assert list(monitor.samples.minutes) == [minute + 60]  # the next minute, still open
    rows = storage.query(Query(sources=[SOURCE], group_by="host"))
    by_host = {r.key: (r.point.count, r.point.errors) for r in rows}
    assert by_host == {"ingest": (3, 0), "storage": (3, 0), "analytics": (3, 3)}
    monitor.samples.add("ingest", True, 5.0, minute + 1)  # a late resend of that minute
    resend = monitor.samples.batch(minute)
    assert resend.batch_id == f"{SOURCE}@test:1:{minute}:{minute + 60}"
    assert storage.write_batch(resend) is False
    storage.close()
