"""Domain values to and from their wire forms: protobuf messages for gRPC, and the JSON
shapes the REST endpoints use. One place, so every transport says the same thing.
Histograms cross packed, as the workers and the stores keep them: never unpacked here."""

import base64
from typing import Any

from logctl.errors import StoreError, UsageError
from logctl.metrics import sketch
from logctl.metrics.points import ChunkAggregate, Point
from logctl.pb import analytics_pb2 as apb
from logctl.pb import storage_pb2 as spb
from logctl.store.base import Batch, Coverage, Position, Query, Row
from logctl.transport.packed import pack_points, unpack_points

LATENCY_FIELDS = ("p50", "p90", "p95", "p99", "max", "mean")
SUMMARY_COUNTS = ("requests", "errors", "client_errors", "bytes", "malformed")


def point_to_pb(point: Point) -> spb.Point:
    return spb.Point(count=point.count, errors=point.errors, client_errors=point.client_errors,
                     bytes=point.bytes, latency_count=point.latency_count,
                     latency_sum=point.latency_sum, latency_max=point.latency_max,
                     hist=point.encoded_hist() or b"", first=point.first, last=point.last)


def point_from_pb(msg: spb.Point) -> Point:
    """A point from the wire; a corrupted histogram is the sender's error (UsageError, so
    it is refused as a bad request and never retried)."""
    try:
        sketch.check(msg.hist)
    except StoreError as exc:
        raise UsageError(f"bad point: {exc}") from None
    point = Point()
    point.count, point.errors, point.client_errors = msg.count, msg.errors, msg.client_errors
    point.bytes, point.latency_count = msg.bytes, msg.latency_count
    point.latency_sum, point.latency_max = msg.latency_sum, msg.latency_max
    point.set_encoded_hist(msg.hist)
    point.first, point.last = msg.first, msg.last
    return point


def batch_to_pb(batch: Batch) -> spb.Batch:
    agg = batch.aggregate
    position = spb.Position(source_id=batch.position.source_id, start=batch.position.start,
                            end=batch.position.end)
    malformed = [spb.Malformed(has_minute=minute is not None, minute=minute or 0, count=count)
                 for minute, count in agg.malformed.items()]
    return spb.Batch(source=batch.source, position=position, packed=pack_points(agg),
                     malformed=malformed, samples=agg.samples, lines=agg.lines)


def batch_from_pb(msg: spb.Batch) -> Batch:
    agg = ChunkAggregate(lines=msg.lines, samples=list(msg.samples))
    for kp in msg.points:
        agg.points[(kp.minute, kp.host, kp.method, kp.route, kp.status)] = point_from_pb(kp.point)
    unpack_points(msg.packed, agg)
    for m in msg.malformed:
        minute = m.minute if m.has_minute else None
        agg.malformed[minute] = agg.malformed.get(minute, 0) + m.count
    position = Position(msg.position.source_id, msg.position.start, msg.position.end)
    return Batch(msg.source, position, agg)


def query_to_pb(query: Query) -> spb.RangeQuery:
    msg = spb.RangeQuery(sources=query.sources, hosts=query.hosts, statuses=query.statuses,
                         methods=query.methods, without_histograms=not query.histograms)
    for name in ("start", "end", "route_glob", "group_by", "step_minutes"):
        value = getattr(query, name)
        if value is not None:
            setattr(msg, name, value)
    return msg


def query_from_pb(msg: spb.RangeQuery) -> Query:
    def opt(name: str) -> Any:
        return getattr(msg, name) if msg.HasField(name) else None

    return Query(start=opt("start"), end=opt("end"), sources=tuple(msg.sources),
                 hosts=tuple(msg.hosts), route_glob=opt("route_glob"),
                 statuses=tuple(msg.statuses), methods=tuple(msg.methods),
                 group_by=opt("group_by"), step_minutes=opt("step_minutes"),
                 histograms=not msg.without_histograms)


def row_to_pb(row: Row) -> spb.Row:
    msg = spb.Row(point=point_to_pb(row.point), malformed=row.malformed)
    if row.key is not None:
        msg.key = row.key
    if row.bucket is not None:
        msg.bucket = row.bucket
    return msg


def row_from_pb(msg: spb.Row) -> Row:
    return Row(msg.key if msg.HasField("key") else None,
               msg.bucket if msg.HasField("bucket") else None,
               point_from_pb(msg.point), msg.malformed)


def coverage_to_pb(coverage: Coverage) -> spb.Coverage:
    msg = spb.Coverage(points=coverage.points, batches=coverage.batches)
    if coverage.first is not None:
        msg.first, msg.last = coverage.first, coverage.last
    if coverage.hourly_before is not None:
        msg.hourly_before = coverage.hourly_before
    return msg


def coverage_from_pb(msg: spb.Coverage) -> Coverage:
    has = msg.HasField("first")
    return Coverage(msg.first if has else None, msg.last if has else None, msg.points,
                    msg.batches, msg.hourly_before if msg.HasField("hourly_before") else None)


def row_to_json(row: Row) -> dict[str, Any]:
    """A stored row for REST: counters as numbers, the histogram as base64 of its bytes."""
    p = row.point
    return {"key": row.key, "bucket": row.bucket, "malformed": row.malformed,
            "point": {"count": p.count, "errors": p.errors, "client_errors": p.client_errors,
                      "bytes": p.bytes, "latency_count": p.latency_count,
                      "latency_sum": p.latency_sum, "latency_max": p.latency_max,
                      "hist": base64.b64encode(p.encoded_hist() or b"").decode(),
                      "first": _finite(p.first), "last": _finite(p.last)}}


def row_from_json(data: dict[str, Any]) -> Row:
    p = data["point"]
    point = Point()
    for name in ("count", "errors", "client_errors", "bytes", "latency_count", "latency_sum",
                 "latency_max"):
        setattr(point, name, p[name])
    point.set_encoded_hist(base64.b64decode(p["hist"]))
    point.first = float("inf") if p["first"] is None else p["first"]
    point.last = float("-inf") if p["last"] is None else p["last"]
    return Row(data["key"], data["bucket"], point, data["malformed"])


def _finite(value: float) -> float | None:
    """JSON has no infinities: an empty point's first/last travel as null."""
    return value if abs(value) != float("inf") else None


def summary_to_pb(body: dict[str, Any]) -> apb.Summary:
    """The JSON contract's summary fields as a message."""
    msg = apb.Summary(error_rate=body["error_rate"],
                      **{name: body[name] for name in SUMMARY_COUNTS})
    if body["latency_ms"] is not None:
        msg.latency_ms.CopyFrom(apb.Latency(**body["latency_ms"]))
    if body["first"] is not None:
        msg.first, msg.last = body["first"], body["last"]
    return msg


def summary_from_pb(msg: apb.Summary) -> dict[str, Any]:
    """A summary message back to the JSON contract, key for key."""
    latency = None
    if msg.HasField("latency_ms"):
        latency = {name: getattr(msg.latency_ms, name) for name in LATENCY_FIELDS}
    return {"requests": msg.requests, "errors": msg.errors, "client_errors": msg.client_errors,
            "error_rate": msg.error_rate, "bytes": msg.bytes, "malformed": msg.malformed,
            "latency_ms": latency,
            "first": msg.first if msg.HasField("first") else None,
            "last": msg.last if msg.HasField("last") else None}


def groups_to_pb(groups: list[dict[str, Any]]) -> list[apb.Group]:
    """Groups as messages: a two-dimension key goes in `parts`."""
    return [apb.Group(parts=g["key"], summary=summary_to_pb(g)) if isinstance(g["key"], list)
            else apb.Group(key=str(g["key"]), summary=summary_to_pb(g)) for g in groups]


def groups_from_pb(groups: Any) -> list[dict[str, Any]]:
    return [{"key": list(g.parts) if g.parts else g.key, **summary_from_pb(g.summary)}
            for g in groups]


def entry_to_pb(entry: dict[str, Any]) -> apb.SeriesEntry:
    if "groups" in entry:
        return apb.SeriesEntry(t=entry["t"], groups=groups_to_pb(entry["groups"]))
    return apb.SeriesEntry(t=entry["t"], summary=summary_to_pb(entry))


def entry_from_pb(msg: apb.SeriesEntry, grouped: bool) -> dict[str, Any]:
    if grouped:
        return {"t": msg.t, "groups": groups_from_pb(msg.groups)}
    return {"t": msg.t, **summary_from_pb(msg.summary)}
