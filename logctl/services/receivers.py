"""Receivers: logs pushed by the shippers operators run (an OpenTelemetry SDK or Collector
over OTLP/HTTP, Promtail, Alloy, Fluent Bit or Vector over Loki's push API or plain JSON
over HTTP), turned into chunks of lines that flow through processing like file chunks.

Decoding is pure (bytes in, `Pushed` chunks out). `Receiver.deliver` sends them through
the ingest daemon's processing client and returns once storage holds them (or
processing's spool does). Each chunk's batch id comes from the request's content (or the
shipper's idempotency key), so a request sent again is stored once."""

import hashlib
import io
import json
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import cramjam
import promql_parser as pq
import zstandard
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as otlp

from logctl.errors import InputError, Overloaded
from logctl.pb import loki_pb2
from logctl.services.contracts import ChunkAck, ChunkRequest, FormatSpec, ProcessingClient
from logctl.store.base import Position

JSON_TYPES = ("application/json",)
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines",
                "text/plain")
PROTOBUF = "application/x-protobuf"
SOURCE_LABELS = ("source", "job", "service_name", "service", "app", "container")
HOST_LABELS = ("host", "hostname", "instance", "host_name")
OFFSET_BITS = 60  # of the content digest, as a batch's start offset: ids stay unique


@dataclass(frozen=True)
class Pushed:
    """Lines of one source from one request: `format` is "jsonl" for records logctl wrote
    as JSON, None where the lines are raw log lines to detect (an access log shipped
    as it was written)."""

    source: str
    lines: bytes
    format: str | None = None
    records: int = 0
    host: str = ""  # for records whose lines name no host (a stream's host label)


@dataclass
class Decoded:
    """A request's chunks, and the records it could not use (OTLP's partial success)."""

    chunks: list[Pushed]
    rejected: int = 0
    reason: str = ""


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """The body under its Content-Encoding (gzip, deflate, zstd, snappy; none), refused
    with TooLarge past `limit` bytes decompressed (a small bomb cannot fill memory)."""
    encoding = encoding.strip().lower()
    try:
        if encoding in ("", "identity"):
            data = body
        elif encoding in ("gzip", "x-gzip", "deflate"):
            data = _inflate(body, 47 if encoding != "deflate" else 15, limit)
        elif encoding == "zstd":
            data = _unzstd(body, limit)
        elif encoding == "snappy":
            if cramjam.snappy.decompress_raw_len(body) > limit:
                raise TooLarge(f"the body is over {limit} bytes decompressed")
            data = bytes(cramjam.snappy.decompress_raw(body))
        else:
            raise InputError(f"content encoding {encoding!r} not accepted: use gzip, "
                             "deflate, zstd, snappy or none")
    except (zlib.error, zstandard.ZstdError, cramjam.DecompressionError) as exc:
        raise InputError(f"cannot decompress the {encoding} body: {exc}") from None
    if len(data) > limit:
        raise TooLarge(f"the body is over {limit} bytes decompressed")
    return data


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    """Every gzip member of a body (a stream may hold several), refused when one is cut
    short: a truncated upload must not be half stored and acknowledged."""
    out = bytearray()
    rest = body
    while rest:
        inflate = zlib.decompressobj(wbits=wbits)
        out += inflate.decompress(rest, limit + 1 - len(out))
        if len(out) > limit:
            raise TooLarge(f"the body is over {limit} bytes decompressed")
        if not inflate.eof:
            raise InputError("the compressed body is cut short")
        rest = inflate.unused_data
    return bytes(out)


def _unzstd(body: bytes, limit: int) -> bytes:
    """Every zstd frame of a body, refused when the last is cut short. The size is
    bounded first (a stream reader stops at the limit; a frame object would not)."""
    bounded = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body),
                                                         read_across_frames=True)
    if len(bounded.read(limit + 1)) > limit:
        raise TooLarge(f"the body is over {limit} bytes decompressed")
    out = bytearray()
    rest = body
    while rest:
        unzstd = zstandard.ZstdDecompressor().decompressobj()
        out += unzstd.decompress(rest)
        if len(out) > limit:
            raise TooLarge(f"the body is over {limit} bytes decompressed")
        if not unzstd.eof:
            raise InputError("the compressed body is cut short")
        rest = unzstd.unused_data
    return bytes(out)


class TooLarge(InputError):
    """A body over the size limit once decompressed (HTTP 413)."""


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def events(body: bytes, kind: str, source: str) -> Decoded:
    """`POST /v1/events`: a JSON array of records, or NDJSON (one per line), as Vector's
    `http` sink and Fluent Bit's `http` output send them. Records map through the JSON
    field map; a line that is not a JSON object is rejected."""
    text = body.strip()
    if kind in JSON_TYPES and (text.startswith(b"[") or
                               (text.startswith(b"{") and b"\n" not in text)):
        try:
            whole = json.loads(text)
        except ValueError as exc:
            raise InputError(f"the body is not JSON: {exc}") from None
        items = whole if isinstance(whole, list) else [whole]
    else:
        items = []
        for raw in text.splitlines():
            if raw.strip():
                try:
                    items.append(json.loads(raw))
                except ValueError:
                    items.append(None)
    good = [item for item in items if isinstance(item, dict)]
    rejected = len(items) - len(good)
    chunk = Pushed(source, b"".join(_line(item) for item in good), "jsonl", len(good))
    return Decoded([chunk] if good else [], rejected,
                   f"{rejected} records are not JSON objects" if rejected else "")


def stream_labels(text: str) -> dict[str, str]:
    """Labels in Prometheus syntax ({job="nginx", host="web1"}), read by promql-parser."""
    try:
        node = pq.parse(text)
    except ValueError as exc:
        raise InputError(f"bad stream labels {text!r}: {exc}") from None
    if not isinstance(node, pq.VectorSelector):
        raise InputError(f"bad stream labels {text!r}: use {{name=\"value\", ...}}")
    labels = {m.name: m.value for m in node.matchers.matchers}
    if getattr(node, "name", None):
        labels["__name__"] = node.name
    return labels


def source_of(labels: dict[str, str], default: str) -> str:
    """The source a stream's labels name (source, job, service_name, ...)."""
    return next((labels[name] for name in SOURCE_LABELS if labels.get(name)), default)


def host_of(labels: dict[str, str]) -> str:
    """The host a stream's labels name (host, hostname, instance), or none."""
    return next((labels[name] for name in HOST_LABELS if labels.get(name)), "")


def loki(body: bytes, kind: str) -> Decoded:
    """`POST /loki/api/v1/push`: JSON (`streams[].stream` labels and `values` of
    [nanoseconds, line]) or a PushRequest in protobuf. Each stream's lines are raw log
    lines, one chunk per source and host its labels name (the host is given to records
    whose lines name none)."""
    streams: list[tuple[dict[str, str], list[str]]] = []
    if kind == PROTOBUF:
        request = loki_pb2.PushRequest()
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise InputError(f"the body is not a Loki PushRequest: {exc}") from None
        streams = [(stream_labels(s.labels), [e.line for e in s.entries])
                   for s in request.streams]
    else:
        try:
            decoded = json.loads(body)
            streams = [({str(k): str(v) for k, v in s.get("stream", {}).items()},
                        [str(value[1]) for value in s.get("values", [])])
                       for s in decoded.get("streams", [])]
        except (ValueError, AttributeError, IndexError, TypeError) as exc:
            raise InputError(f"the body is not a Loki push: {exc}") from None
    grouped: dict[tuple[str, str], list[str]] = {}
    for labels, lines in streams:
        grouped.setdefault((source_of(labels, "loki"), host_of(labels)), []).extend(lines)
    return Decoded([Pushed(source, "".join(f"{_one_line(line)}\n" for line in lines).encode(),
                           None, len(lines), host)
                    for (source, host), lines in grouped.items() if lines])


def _one_line(line: str) -> str:
    return line.replace("\r", " ").replace("\n", " ")


@dataclass(frozen=True)
class OtlpMapping:
    """How OTLP log records become requests: the attribute holding a record's duration
    and its unit (s or ms). The rest follows the HTTP semantic conventions."""

    duration_attribute: str = "http.server.request.duration"
    duration_unit: str = "s"


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind in ("string_value", "bool_value", "int_value", "double_value"):
        return getattr(any_value, kind)
    return None


def _attributes(items: Iterable[Any]) -> dict[str, Any]:
    return {item.key: _value(item.value) for item in items}


def otlp_request(body: bytes, kind: str) -> Any:
    """An ExportLogsServiceRequest from its protobuf or JSON encoding."""
    request = otlp.ExportLogsServiceRequest()
    try:
        if kind == PROTOBUF:
            request.ParseFromString(body)
        else:
            json_format.Parse(body, request, ignore_unknown_fields=True)
    except (DecodeError, json_format.ParseError, ValueError) as exc:
        raise InputError(f"the body is not an OTLP logs export: {exc}") from None
    return request


def otlp_logs(request: Any, mapping: OtlpMapping) -> Decoded:
    """OTLP log records as requests: one with an HTTP method or status becomes a JSON
    record (method, url.path or http.route, status, body size, duration, server.address
    as host, the record's time); one whose body is text is a raw log line, parsed by its
    format. `service.name` names the source. Anything else is rejected."""
    records: dict[str, list[bytes]] = {}
    raw: dict[tuple[str, str], list[bytes]] = {}
    rejected = 0
    scale = 1000.0 if mapping.duration_unit == "s" else 1.0
    for resource_logs in request.resource_logs:
        resource = _attributes(resource_logs.resource.attributes)
        source = str(resource.get("service.name") or "otlp")
        host = str(resource.get("host.name") or "")
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                attrs = {**resource, **_attributes(record.attributes)}
                mapped = _http_record(record, attrs, mapping.duration_attribute, scale)
                if mapped is not None:
                    records.setdefault(source, []).append(_line(mapped))
                elif record.body.WhichOneof("value") == "string_value" and \
                        record.body.string_value.strip():
                    raw.setdefault((source, host), []).append(
                        _one_line(record.body.string_value).encode() + b"\n")
                else:
                    rejected += 1
    chunks = [Pushed(s, b"".join(lines), "jsonl", len(lines)) for s, lines in records.items()]
    chunks += [Pushed(s, b"".join(lines), None, len(lines), h)
               for (s, h), lines in raw.items()]
    return Decoded(chunks, rejected, f"{rejected} log records carry neither HTTP attributes "
                                     "nor a text body" if rejected else "")


def _http_record(record: Any, attrs: dict[str, Any], duration_key: str,
                 scale: float) -> dict[str, Any] | None:
    method = attrs.get("http.request.method") or attrs.get("http.method")
    status = attrs.get("http.response.status_code") or attrs.get("http.status_code")
    if method is None and status is None:
        return None
    nanos = record.time_unix_nano or record.observed_time_unix_nano
    mapped: dict[str, Any] = {
        "time": datetime.fromtimestamp(nanos / 1e9, UTC).isoformat(timespec="microseconds")
        if nanos else None,
        "method": method, "status": status,
        "path": attrs.get("url.path") or attrs.get("http.route") or attrs.get("http.target"),
        "bytes": attrs.get("http.response.body.size"),
        "host": attrs.get("server.address") or attrs.get("http.host"),
    }
    duration = attrs.get(duration_key)
    if isinstance(duration, int | float):
        mapped["duration_ms"] = duration * scale
    return {k: v for k, v in mapped.items() if v is not None}


def otlp_response(decoded: Decoded, kind: str) -> bytes:
    """ExportLogsServiceResponse in the request's encoding, with `partialSuccess` when
    records were rejected."""
    response = otlp.ExportLogsServiceResponse()
    if decoded.rejected:
        response.partial_success.rejected_log_records = decoded.rejected
        response.partial_success.error_message = decoded.reason
    if kind == PROTOBUF:
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode()


def batch_key(body: bytes, idempotency: str | None) -> str:
    """What a request's batch ids derive from: the shipper's idempotency key when it sends
    one, else the digest of the content."""
    return hashlib.sha256((idempotency or "").encode() + b"\0" + body).hexdigest()


@dataclass
class Counters:
    """One receiver's figures for health: records and bytes taken, rejected, refused."""

    requests: int = 0
    records: int = 0
    bytes: int = 0
    rejected: int = 0
    refused: int = 0

    def as_json(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Receiver:
    """Delivers decoded pushes through processing, at most `max_in_flight` at once (more
    are refused with Overloaded, 429 and Retry-After, before anything is read)."""

    processing: ProcessingClient
    format_for: Callable[[bytes, str | None], FormatSpec]
    max_in_flight: int = 8
    counters: dict[str, Counters] = field(default_factory=dict)
    listeners: dict[str, Callable[[], dict[str, int]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._slots = threading.BoundedSemaphore(self.max_in_flight)

    def deliver(self, receiver: str, decoded: Decoded, key: str, size: int) -> list[ChunkAck]:
        """Store every chunk of a request (returns once processing acknowledges each)."""
        counters = self.counters.setdefault(receiver, Counters())
        if not self._slots.acquire(blocking=False):
            counters.refused += 1
            raise Overloaded(f"{self.max_in_flight} pushes are already in flight: retry",
                             retry_after=1.0)
        try:
            acks = list(self.processing.process(self._requests(decoded, key)))
        finally:
            self._slots.release()
        counters.requests += 1
        counters.records += sum(chunk.records for chunk in decoded.chunks)
        counters.bytes += size
        counters.rejected += decoded.rejected
        return acks

    def _requests(self, decoded: Decoded, key: str) -> Iterator[ChunkRequest]:
        for index, chunk in enumerate(decoded.chunks):
            digest = hashlib.sha256(f"{key}:{index}:{chunk.source}:{chunk.host}".encode()
                                    ).hexdigest()
            start = int(digest, 16) >> (256 - OFFSET_BITS)
            position = Position(f"push:{chunk.source}", start, start + len(chunk.lines))
            spec = replace(self.format_for(chunk.lines, chunk.format), host=chunk.host)
            yield ChunkRequest(chunk.source, position, spec, chunk.lines)

    def figures(self) -> dict[str, Any]:
        """Each receiver's counters, with a listener's own (syslog: messages, dropped)."""
        names = sorted({*self.counters, *self.listeners})
        return {name: {**(self.counters[name].as_json() if name in self.counters
                          else Counters().as_json()),
                       **(self.listeners[name]() if name in self.listeners else {})}
                for name in names}
