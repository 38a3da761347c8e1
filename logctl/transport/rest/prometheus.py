"""`GET /metrics` for every REST service: the health figures in Prometheus text format
(and on the analytics daemon, when exported, the stored log metrics).

Each app gets its own CollectorRegistry (never the process-global one, so several apps in
one process and the tests do not collide) holding one collector that reads the same
health dict `/v1/health` answers, so the two views can never disagree."""

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from logctl.services.promseries import BUCKET, DURATION, FAMILIES, LABELS, LE, NAME, Labels

PREFIX = "logctl_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATES = ("ok", "degraded", "down")
# Health fields with a fixed meaning: name, help, unit conversion.
GAUGES = {
    "uptime_s": ("uptime_seconds", "Seconds since the service started"),
    "requests_per_s": ("requests_per_second", "REST requests per second, last minute"),
    "error_rate": ("error_ratio", "Share of REST requests answered 5xx, last minute"),
    "cpu_percent": ("cpu_percent", "CPU use of the process since the last reading"),
    "rss_bytes": ("resident_memory_bytes", "Resident memory of the process"),
    "open_fds": ("open_fds", "Open file descriptors of the process"),
    "queue_depth": ("queue_depth", "Work waiting or in progress"),
}
SKIP = {"service", "status", "reason", "version", "pid", "requests_total", "latency_ms",
        "breakers", *GAUGES}


class HealthCollector(Collector):
    """Turns one service's health dict into metric families on every scrape."""

    def __init__(self, service: str, health: Callable[[], dict[str, Any]]) -> None:
        self.service = service
        self.health = health

    def collect(self) -> Iterator[Metric]:
        body = self.health()
        labels = ["service"]
        state = GaugeMetricFamily(f"{PREFIX}state", "1 for the service's current state",
                                  labels=["service", "state"])
        for name in STATES:
            state.add_metric([self.service, name], float(body.get("status") == name))
        yield state
        yield _counter("requests", "REST requests served", self.service,
                       body.get("requests_total", 0))
        for key, (name, text) in GAUGES.items():
            if isinstance(body.get(key), int | float):
                yield _gauge(name, text, labels, [self.service], body[key])
        yield from _latency(self.service, body.get("latency_ms") or {})
        yield from _breakers(self.service, body.get("breakers") or {})
        for key, value in sorted(_flat(body).items()):
            if key.split(".")[0] not in SKIP and _is_number(value):
                name, value = _base_units(key.replace(".", "_"), value)
                yield _gauge(f"{self.service}_{name}", f"{self.service} health field {key}",
                             labels, [self.service], value)


def _base_units(name: str, value: float) -> tuple[str, float]:
    """A health field in milliseconds (`write_latency_ms_p50`) in seconds, as Prometheus
    names want (`write_latency_seconds_p50`)."""
    parts = name.split("_")
    if "ms" not in parts:
        return name, value
    parts[parts.index("ms")] = "seconds"
    return "_".join(parts), value / 1000


def _flat(body: dict[str, Any]) -> dict[str, Any]:
    """Health fields with one level of nesting flattened (write_latency_ms.p95)."""
    flat: dict[str, Any] = {}
    for key, value in body.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{sub}": v for sub, v in value.items()})
        else:
            flat[key] = value
    return flat


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _gauge(name: str, text: str, labels: list[str], values: list[str],
           value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(f"{PREFIX}{name}", text, labels=labels)
    family.add_metric(values, float(value))
    return family


def _counter(name: str, text: str, service: str, value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(f"{PREFIX}{name}", text, labels=["service"])
    family.add_metric([service], float(value))
    return family


def _latency(service: str, latency: dict[str, Any]) -> Iterator[Metric]:
    """The last minute's REST latency quantiles as a summary in seconds (a gauge may not
    carry a `quantile` label, and Prometheus names take base units)."""
    family = Metric(f"{PREFIX}request_latency_seconds",
                    "REST request latency quantiles of the last minute, seconds", "summary")
    for name, value in sorted(latency.items()):
        if _is_number(value):
            family.add_sample(f"{PREFIX}request_latency_seconds",
                              {"service": service, "quantile": str(int(name[1:]) / 100)},
                              value / 1000)
    yield family


def _breakers(service: str, breakers: dict[str, Any]) -> Iterator[Metric]:
    family = GaugeMetricFamily(f"{PREFIX}breaker_open", "1 when the breaker to a peer is open",
                               labels=["service", "peer"])
    for peer, state in sorted(breakers.items()):
        family.add_metric([service, peer], float(str(state) == "open"))
    yield family


class LogMetricsCollector(Collector):
    """The stored log metrics as they stand, under the names the Prometheus query API
    answers (logctl_http_requests_total, ...), for a Prometheus server to scrape. Only
    what is stored when it scrapes: it keeps the history from then on."""

    def __init__(self, totals: Callable[[], dict[Labels, float]]) -> None:
        self.totals = totals

    def collect(self) -> Iterator[Metric]:
        series: dict[str, dict[Labels, float]] = {}
        for labels, value in self.totals().items():
            named = dict(labels)
            series.setdefault(named.pop(NAME), {})[tuple(sorted(named.items()))] = value
        for family in FAMILIES.values():
            if family.kind == "counter":
                counter = CounterMetricFamily(family.name, family.help,
                                              labels=list(family.labels))
                for labels, value in sorted(series.get(family.name, {}).items()):
                    counter.add_metric(_label_values(family.labels, labels), value)
                yield counter
        yield _histogram(series)


def _label_values(names: tuple[str, ...], labels: Labels) -> list[str]:
    given = dict(labels)
    return [given.get(name, "") for name in names]


def _histogram(series: dict[str, dict[Labels, float]]) -> HistogramMetricFamily:
    """logctl_http_request_duration_seconds from its bucket and sum series."""
    family = HistogramMetricFamily(DURATION, "Logged response times, seconds",
                                   labels=list(LABELS))
    buckets: dict[Labels, list[tuple[str, float]]] = {}
    for labels, value in series.get(BUCKET, {}).items():
        base = tuple(pair for pair in labels if pair[0] != LE)
        buckets.setdefault(base, []).append((dict(labels)[LE], value))
    sums = series.get(f"{DURATION}_sum", {})
    for base, counts in sorted(buckets.items()):
        counts.sort(key=lambda bound: float(bound[0]))
        family.add_metric(_label_values(LABELS, base), counts, sum_value=sums.get(base, 0.0))
    return family


def registry_for(service: str, health: Callable[[], dict[str, Any]],
                 collectors: Iterable[Collector] = ()) -> CollectorRegistry:
    """A registry of its own for one app, holding its health collector and any others."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HealthCollector(service, health))
    for collector in collectors:
        registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus text format."""
    return generate_latest(registry)
