"""What crosses between services, and the client protocols each service is written
against. In-process, REST and gRPC wirings implement these; no service imports a
transport."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from logctl.store.base import Batch, Position

# 'auto': the native scanner for the CLF family (the columnar engine when it was not built),
# the columnar engine for JSON lines, line by line for the rest; 'columnar': the polars
# engines (CLF family, JSON lines); 'python': line by line. All give the same points.
ENGINES = ("auto", "columnar", "python")


@dataclass(frozen=True)
class FormatSpec:
    """A resolved format as sent with each chunk: its name, parser options, and which
    engine parses it (one of ENGINES)."""

    name: str
    rt_unit: str = "auto"
    fields: tuple[tuple[str, str], ...] = ()
    now: float = 0.0
    engine: str = "auto"
    host: str = ""  # for records whose lines name none (a shipper's host label)
    header: str = ""  # W3C: the `#Fields:` line before the chunk (its lines' layout)


@dataclass(frozen=True)
class ChunkRequest:
    """Raw lines of one source, with where they came from."""

    source: str
    position: Position
    format: FormatSpec
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class ChunkAck:
    """Processing's answer once storage holds the chunk's batch."""

    batch_id: str
    applied: bool
    lines: int
    requests: int
    malformed: int
    end: int


class ProcessingClient(Protocol):
    """Turns chunks into stored batches; acks come back in request order, one per stored
    batch (a batch may take several consecutive chunks of a source: its ack's `end` is
    the last one's)."""

    def process(self, requests: Iterable[ChunkRequest]) -> Iterator[ChunkAck]:
        """Process requests (pipelined) and yield each ack once its batch is stored."""
        ...


class StorageClient(Protocol):
    """The part of storage that writers need."""

    def write_batch(self, batch: Batch) -> bool:
        """Apply a batch exactly once; False when it was already applied."""
        ...

    def committed_end(self, source_id: str, start: int = 0) -> int | None:
        """The end of the unbroken run of stored batches from `start` (None: none)."""
        ...


@dataclass(frozen=True)
class Probe:
    """One health poll: the body when the service answered 200 with an object, else why
    not in a few words ("connection refused", "HTTP 503")."""

    ok: bool
    body: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


class HealthProbe(Protocol):
    """How the monitor asks a service for its health."""

    async def probe(self, url: str, timeout: float) -> Probe:
        """Poll one service's health; never raises for a service that is down."""
        ...


Delivery = Literal["sent", "retry", "refused"]


class AlertSender(Protocol):
    """Where alert changes go (the webhook): a refused one is not tried again."""

    async def deliver(self, payload: dict[str, Any]) -> Delivery:
        """Post one alert change; 'retry' when a later attempt may succeed."""
        ...
