"""The Prometheus view of the stored log metrics: series names, their labels, the `le`
ladder of the duration histogram, and what each name reads from a stored point.

Stored points are per-minute deltas of one series (source, host, method, route, status);
the Prometheus series are counters, so each is the cumulative sum of those deltas. Labels
with an empty value are left out, as Prometheus treats an empty label as an absent one."""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from logctl.metrics import sketch
from logctl.metrics.points import Point
from logctl.store.base import KEY_SEP, Row

STORED = ("source", "host", "method", "route", "status")  # the dimensions of a series
LABELS = (*STORED, "status_class")
NAME = "__name__"
LE = "le"
# The `le` ladder of logctl_http_request_duration_seconds_bucket, in seconds (the
# Prometheus client's default buckets); "+Inf" holds every timed request.
LE_LADDER = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
INF = "+Inf"

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs
Reading = tuple[tuple[tuple[str, str], ...], float]  # extra labels, value


@dataclass(frozen=True)
class Family:
    """One exposed series name: its Prometheus type, help, the labels its series carry,
    and what it reads from a merged stored row (one reading per extra label set: the
    histogram's buckets have one per `le`)."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...]
    read: Callable[[Row], list[Reading]]
    timed_only: bool = False  # only series whose requests carry a response time


def le_text(bound: float) -> str:
    """A ladder bound as Prometheus writes `le` ("0.005", "1.0", "+Inf")."""
    return repr(float(bound))


def bucket_counts(point: Point) -> list[int]:
    """How many of a point's timed requests took at most each ladder bound, then all of
    them (+Inf). Read from the histogram's bins, so within the store's 1% of the bound."""
    counts = [0] * len(LE_LADDER)
    for index, count in point.hist.items():
        seconds = sketch.bin_value(index) / 1000
        for i, bound in enumerate(LE_LADDER):
            if seconds <= bound:
                counts[i] += count
    return [*counts, point.latency_count]


def _buckets(row: Row) -> list[Reading]:
    counts = bucket_counts(row.point)
    bounds = [*(le_text(b) for b in LE_LADDER), INF]
    return [(((LE, bound),), float(count)) for bound, count in zip(bounds, counts, strict=True)]


def _one(read: Callable[[Row], float]) -> Callable[[Row], list[Reading]]:
    return lambda row: [((), float(read(row)))]


REQUESTS = "logctl_http_requests_total"
ERRORS = "logctl_http_errors_total"
BYTES = "logctl_http_response_bytes_total"
DURATION = "logctl_http_request_duration_seconds"
BUCKET = f"{DURATION}_bucket"
COUNT = f"{DURATION}_count"
MALFORMED = "logctl_malformed_lines_total"

FAMILIES = {f.name: f for f in (
    Family(REQUESTS, "counter", "HTTP requests logged", LABELS, _one(lambda r: r.point.count)),
    Family(ERRORS, "counter", "HTTP requests logged with a 5xx status", LABELS,
           _one(lambda r: r.point.errors)),
    Family(BYTES, "counter", "Response body bytes logged", LABELS,
           _one(lambda r: r.point.bytes)),
    Family(BUCKET, "histogram", "Logged response times at most `le` seconds",
           (*LABELS, LE), _buckets, timed_only=True),
    Family(f"{DURATION}_sum", "histogram", "Sum of logged response times, seconds", LABELS,
           _one(lambda r: r.point.latency_sum / 1000), timed_only=True),
    Family(COUNT, "histogram", "Logged requests with a response time", LABELS,
           _one(lambda r: r.point.latency_count), timed_only=True),
    Family(MALFORMED, "counter", "Log lines that did not parse", ("source",),
           _one(lambda r: r.malformed)),
)}


def metadata() -> dict[str, list[dict[str, str]]]:
    """`/api/v1/metadata`: each metric's type and help (the histogram under its base)."""
    found: dict[str, list[dict[str, str]]] = {}
    for family in FAMILIES.values():
        base = DURATION if family.kind == "histogram" else family.name
        found.setdefault(base, [{"type": family.kind, "help": family.help, "unit": ""}])
    found[DURATION][0]["help"] = "Logged response times, seconds"
    return found


def stored_dims(labels: Iterable[str]) -> tuple[str, ...]:
    """The store grouping that yields the given labels, in a fixed order."""
    wanted = set(labels)
    return tuple(name for name in LABELS if name in wanted)


def row_labels(row: Row, dims: tuple[str, ...]) -> dict[str, str]:
    """A row's group key as labels (non-empty values only), with status_class beside a
    status."""
    values = (row.key or "").split(KEY_SEP, len(dims) - 1) if dims else []
    labels = {name: value for name, value in zip(dims, values, strict=True) if value}
    if "status" in labels and "status_class" not in labels:
        labels["status_class"] = f"{labels['status'][0]}xx"
    return labels


def readings(family: Family, row: Row, labels: dict[str, str]) -> Iterator[tuple[Labels, float]]:
    """A family's series and values in one row, skipped where the family does not apply
    (untimed requests for the histogram, rows without malformed lines for that count)."""
    if family.timed_only and not row.point.latency_count:
        return
    if family.name == MALFORMED and not row.malformed:
        return
    if family.name != MALFORMED and not row.point.count:
        return
    base = {k: v for k, v in labels.items() if k in family.labels}
    for extra, value in family.read(row):
        yield tuple(sorted({**base, **dict(extra), NAME: family.name}.items())), value
