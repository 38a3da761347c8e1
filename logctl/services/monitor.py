"""Monitor: polls every service's health on a fixed cadence, timing each poll itself;
keeps each service's latest state and a short history (for sparklines), the
pipeline's throughput and lag, and the last minutes of the ingested traffic (from
analytics); evaluates the alert rules after every round; and hands each complete minute
of its own measurements to storage."""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from logctl.errors import LogctlError
from logctl.metrics.ranks import rank
from logctl.services.alerts import Alert, AlertBook, AlertRules, evaluate
from logctl.services.analytics import MetricsRequest
from logctl.services.contracts import HealthProbe, StorageClient
from logctl.services.samples import SOURCE, MinuteSamples

log = logging.getLogger("logctl.monitor")
HISTORY = 300
SPARK = 60
P95_POLLS = 30
TRAFFIC_MINUTES = 15
TRAFFIC_EVERY_S = 5.0


@dataclass
class Target:
    """One service instance the monitor watches, and what it last saw."""

    name: str
    url: str
    state: str = "unknown"
    reason: str = "not polled yet"
    latency_ms: float | None = None
    failures: int = 0
    last_ok: float | None = None
    health: dict[str, Any] = field(default_factory=dict)
    history: deque[tuple[float, float | None]] = field(
        default_factory=lambda: deque(maxlen=HISTORY))

    @property
    def poll_p95_ms(self) -> float | None:
        """p95 of the last answered polls' times (the monitor's own measure)."""
        return rank(sorted(ms for _, ms in list(self.history)[-P95_POLLS:] if ms is not None),
                    0.95)

    def as_json(self) -> dict[str, Any]:
        health = self.health
        return {"name": self.name, "url": self.url, "state": self.state,
                "reason": self.reason, "latency_ms": self.latency_ms,
                "poll_p95_ms": self.poll_p95_ms, "failures": self.failures,
                "last_ok": self.last_ok, "requests_per_s": health.get("requests_per_s"),
                "error_rate": health.get("error_rate"),
                "cpu_percent": health.get("cpu_percent"),
                "rss_bytes": health.get("rss_bytes"),
                "history": [ms for _, ms in list(self.history)[-SPARK:]], "health": health}


@dataclass(frozen=True)
class MonitorSettings:
    """How the monitor polls and what it does with what it sees."""

    interval: float = 2.0
    down_after: int = 2
    rules: AlertRules = field(default_factory=AlertRules)
    instance: str = "monitor"


class TrafficSource(Protocol):
    """Analytics as the monitor asks it, from its event loop."""

    async def answer(self, request: MetricsRequest, timeout: float) -> dict[str, Any]:
        """The JSON answer to a metrics request; PeerError when analytics cannot say."""
        ...


@dataclass(frozen=True)
class Peers:
    """What the monitor talks to: every service's health, and analytics for the traffic
    (None: no traffic panel)."""

    health: HealthProbe
    traffic: TrafficSource | None = None


class Monitor:
    """Polls targets; a target is degraded after one failed poll and down after
    `down_after` in a row. `storage` (optional) receives the per-minute samples and
    `notify` (optional) every alert that fires or resolves."""

    def __init__(self, targets: dict[str, str], settings: MonitorSettings | None = None,
                 storage: StorageClient | None = None,
                 notify: Callable[[list[Alert]], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        settings = settings or MonitorSettings()
        self.targets = [Target(name, url.rstrip("/")) for name, url in targets.items()]
        self.settings = settings
        self.storage = storage
        self.notify = notify
        self.clock = clock
        self.polls = 0
        self.alerts = AlertBook()
        self.samples = MinuteSamples(settings.instance)
        self.pipeline: deque[dict[str, float]] = deque(maxlen=HISTORY)
        self.traffic: list[dict[str, Any]] = []
        self._traffic_at = float("-inf")
        self._lines: tuple[float, int] | None = None
        self._received: tuple[float, dict[str, dict[str, int]]] | None = None
        self.receivers: list[dict[str, Any]] = []

    @property
    def interval(self) -> float:
        return self.settings.interval

    async def poll_once(self, peers: Peers) -> None:
        """One round: poll everyone, then update the pipeline, traffic, alerts, samples."""
        await asyncio.gather(*(self._poll(peers.health, t) for t in self.targets))
        self.polls += 1
        now = self.clock()
        self._note_pipeline(now)
        if peers.traffic is not None and now - self._traffic_at >= TRAFFIC_EVERY_S:
            self._traffic_at = now
            await self._poll_traffic(peers.traffic)
        self.check_alerts(now)
        await self._store_samples(now)

    async def _poll(self, health: HealthProbe, target: Target) -> None:
        started = time.perf_counter()
        probe = await health.probe(target.url, self.timeout)
        ok, body, reason = probe.ok, probe.body, probe.reason
        latency = round((time.perf_counter() - started) * 1000, 3)
        now = self.clock()
        target.history.append((now, latency if ok else None))
        self.samples.add(target.name, ok, latency, now)
        if ok:
            target.failures, target.last_ok, target.health = 0, now, body
            target.state, target.latency_ms = body.get("status", "ok"), latency
            target.reason = body.get("reason") or ""
            return
        target.failures += 1
        target.latency_ms = None
        target.reason = reason
        target.state = "down" if target.failures >= self.settings.down_after else "degraded"

    @property
    def timeout(self) -> float:
        """A poll slower than 90% of an interval counts as failed, so rounds keep time."""
        return self.settings.interval * 0.9

    def _note_pipeline(self, now: float) -> None:
        """Lines/s from the ingest counter between rounds, and the worst ingest lag."""
        ingest = [t for t in self.targets if t.name == "ingest" and t.failures == 0]
        if not ingest or "lines" not in ingest[0].health:
            return
        health = ingest[0].health
        lines = int(health["lines"])
        rate = 0.0
        if self._lines is not None and now > self._lines[0]:
            rate = max(lines - self._lines[1], 0) / (now - self._lines[0])
        self._lines = (now, lines)
        self._note_receivers(now, health.get("receivers") or {})
        self.pipeline.append({"t": now, "lines_per_s": round(rate, 3),
                              "lag_bytes": int(health.get("lag_bytes", 0)),
                              "lag_s": float(health.get("lag_s", 0.0))})

    def _note_receivers(self, now: float, counters: dict[str, dict[str, int]]) -> None:
        """Each receiver's records/s and bytes/s between rounds, with its totals."""
        before = self._received[1] if self._received else {}
        span = now - self._received[0] if self._received else 0.0
        self._received = (now, counters)
        rows = []
        for name, figures in sorted(counters.items()):
            earlier = before.get(name, {})

            def rate(key: str, figures: dict = figures, earlier: dict = earlier) -> float:
                if span <= 0 or key not in earlier:
                    return 0.0
                return round(max(figures.get(key, 0) - earlier[key], 0) / span, 3)

            rows.append({"name": name, "records_per_s": rate("records"),
                         "bytes_per_s": rate("bytes"), "records": int(figures.get("records", 0)),
                         "rejected": int(figures.get("rejected", 0)),
                         "dropped": int(figures.get("dropped", 0) + figures.get("refused", 0))})
        self.receivers = rows

    async def _poll_traffic(self, analytics: TrafficSource) -> None:
        """The last minutes of the ingested logs (the monitor's own source left out)."""
        try:
            self.traffic = await fetch_traffic(analytics, self.timeout)
        except (LogctlError, KeyError, TypeError) as exc:
            log.info("traffic from analytics unavailable: %s", exc)

    def check_alerts(self, now: float) -> list[Alert]:
        """Evaluate the rules and pass on what fired or resolved."""
        changed = self.alerts.update(
            evaluate(self.settings.rules, self.services(), self.traffic), now)
        if changed and self.notify:
            self.notify(changed)
        return changed

    async def _store_samples(self, now: float) -> None:
        if self.storage is None:
            return
        for batch in self.samples.complete(now):
            try:
                await asyncio.to_thread(self.storage.write_batch, batch)
            except LogctlError as exc:
                log.warning("monitor samples kept for later: %s", exc)
                return
            self.samples.written(batch)

    async def run(self, stop: asyncio.Event, peers: Peers) -> None:
        """Poll every `interval` seconds (measured from round start) until `stop` is set."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            await self.poll_once(peers)
            wait = max(self.interval - (loop.time() - started), 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    def services(self) -> list[dict[str, Any]]:
        return [t.as_json() for t in self.targets]

    def snapshot(self) -> dict[str, Any]:
        """Everything the dashboards show, as JSON."""
        latest = self.pipeline[-1] if self.pipeline else {}
        return {
            "checked_at": self.clock(), "interval_s": self.interval, "polls": self.polls,
            "services": [{k: v for k, v in s.items() if k != "health"}
                         for s in self.services()],
            "pipeline": {"lines_per_s": latest.get("lines_per_s", 0.0),
                         "lag_bytes": latest.get("lag_bytes", 0),
                         "lag_s": latest.get("lag_s", 0.0),
                         "history": list(self.pipeline)[-SPARK:],
                         "receivers": self.receivers},
            "traffic": self.traffic,
            "alerts": [a for a in self.alerts.listing() if a["state"] == "firing"],
        }


async def fetch_traffic(analytics: TrafficSource, timeout: float) -> list[dict[str, Any]]:
    """Per minute over the last TRAFFIC_MINUTES: requests, 5xx, their rate and p95 ms of
    every source but the monitor's own, merged (so the p95 is over all of them)."""
    since = f"{TRAFFIC_MINUTES}m"
    top = await analytics.answer(MetricsRequest(since=since, by="source"), timeout)
    sources = [g["key"] for g in top["groups"] if g["key"] != SOURCE]
    if not sources:
        return []
    series = await analytics.answer(MetricsRequest(since=since, step="1m", sources=sources),
                                    timeout)
    return [{"t": m["t"], "requests": m["requests"], "errors": m["errors"],
             "error_rate": m["error_rate"],
             "p95_ms": (m["latency_ms"] or {}).get("p95")} for m in series["series"]]
