"""The monitor's own measurements as stored metrics: each poll of each service counts as
one request of source `logctl.monitor` (host = the service, route = the endpoint polled,
status 200 when it answered and 503 when not, latency = the poll's time), so
`logctl metrics --source logctl.monitor` charts the system itself.

A minute is written once it is complete, as one batch whose id is deterministic per
(monitor instance, minute): writing it again after a failure or a restart is a no-op."""

from dataclasses import dataclass, field

from logctl.formats.record import Record
from logctl.metrics.points import ChunkAggregate, add_record
from logctl.store.base import Batch, Position

SOURCE = "logctl.monitor"
ROUTE = "/v1/health"
MAX_PENDING_MINUTES = 120


@dataclass
class MinuteSamples:
    """Polls counted per minute until their minute is written to storage."""

    instance: str
    minutes: dict[int, ChunkAggregate] = field(default_factory=dict)

    def add(self, service: str, ok: bool, latency_ms: float, ts: float) -> None:
        """Count one poll."""
        minute = int(ts // 60) * 60
        aggregate = self.minutes.setdefault(minute, ChunkAggregate())
        add_record(aggregate.points, Record(ts, "GET", ROUTE, 200 if ok else 503, 0,
                                            latency_ms, service))
        aggregate.lines += 1

    def complete(self, now: float) -> list[Batch]:
        """Batches of every minute before the current one, oldest first; beyond
        MAX_PENDING_MINUTES (storage down for long) the oldest are dropped."""
        current = int(now // 60) * 60
        for minute in sorted(self.minutes)[:-MAX_PENDING_MINUTES]:
            del self.minutes[minute]
        return [self.batch(minute) for minute in sorted(self.minutes) if minute < current]

    def batch(self, minute: int) -> Batch:
        return Batch(SOURCE, Position(f"{SOURCE}@{self.instance}", minute, minute + 60),
                     self.minutes[minute])

    def written(self, batch: Batch) -> None:
        """Forget a minute storage now holds."""
        self.minutes.pop(batch.position.start, None)
