"""Storage over gRPC: the aio servicer (Write, CommittedEnd, Query, GetCoverage, Watch)
and the blocking client processing, ingest and analytics use."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import grpc

from logctl.errors import Overloaded, UsageError
from logctl.pb import storage_pb2 as spb
from logctl.pb import storage_pb2_grpc as spb_grpc
from logctl.services.storage import StorageService
from logctl.store.base import Batch, Coverage, Query, Row
from logctl.transport import wire
from logctl.transport.grpc.auth import bearer_metadata
from logctl.transport.grpc.common import (
    DEADLINE_S,
    aio_channel,
    channel,
    maps_errors,
    peer_error,
)
from logctl.transport.resilience import Guard

SERVICE_NAME = "logctl.v1.Storage"
ROLES = {f"/{SERVICE_NAME}/{method}": role for method, role in (
    ("Write", "ingest"), ("CommittedEnd", "ingest"), ("Query", "read"),
    ("GetCoverage", "read"), ("Watch", "read"))}


def check_batch(batch: Batch) -> None:
    """A batch must say where it came from, or its id cannot make it exactly-once."""
    position = batch.position
    if not position.source_id or not batch.source:
        raise UsageError("a batch needs a source and a source_id")
    if position.start < 0 or position.end < position.start:
        raise UsageError(f"bad batch range {position.start}..{position.end}")


class StorageServicer(spb_grpc.StorageServicer):
    """gRPC front of the storage service; store work runs on the service's own thread.
    Writes beyond `max_pending` waiting at once are refused with RESOURCE_EXHAUSTED and a
    retry-after hint (a bounded queue, not an unbounded backlog in memory)."""

    def __init__(self, service: StorageService, max_pending: int = 64) -> None:
        self.service = service
        self.max_pending = max_pending
        self.pending = 0

    @maps_errors
    async def Write(self, request: spb.Batch, context: grpc.aio.ServicerContext
                    ) -> spb.WriteReply:
        batch = wire.batch_from_pb(request)
        check_batch(batch)
        if self.pending >= self.max_pending:
            raise Overloaded(f"{self.pending} writes waiting, the most storage queues",
                             retry_after=0.5)
        self.pending += 1
        try:
            applied = await asyncio.to_thread(self.service.write_batch, batch)
        finally:
            self.pending -= 1
        return spb.WriteReply(batch_id=batch.batch_id, applied=applied)

    @maps_errors
    async def CommittedEnd(self, request: spb.CommittedEndRequest,
                           context: grpc.aio.ServicerContext) -> spb.CommittedEndReply:
        end = await asyncio.to_thread(self.service.committed_end, request.source_id,
                                      request.start)
        return spb.CommittedEndReply(found=end is not None, end=end or 0)

    @maps_errors
    async def Query(self, request: spb.RangeQuery, context: grpc.aio.ServicerContext
                    ) -> spb.QueryReply:
        rows = await asyncio.to_thread(self.service.query, wire.query_from_pb(request))
        return spb.QueryReply(rows=[wire.row_to_pb(row) for row in rows])

    @maps_errors
    async def GetCoverage(self, request: spb.RangeQuery, context: grpc.aio.ServicerContext
                          ) -> spb.Coverage:
        coverage = await asyncio.to_thread(self.service.coverage, wire.query_from_pb(request))
        return wire.coverage_to_pb(coverage)

    @maps_errors
    async def Watch(self, request: spb.RangeQuery, context: grpc.aio.ServicerContext
                    ) -> AsyncIterator[spb.MinuteUpdate]:
        """After each applied batch, the touched minutes' rows under the request's filters
        and grouping, as they now stand (one-minute buckets)."""
        query = replace(wire.query_from_pb(request), step_minutes=1)
        loop = asyncio.get_running_loop()
        touched: asyncio.Queue[list[int]] = asyncio.Queue()
        stop = self.service.watch(lambda minutes: loop.call_soon_threadsafe(
            touched.put_nowait, minutes))
        try:
            while True:
                minutes = set(await touched.get())
                while not touched.empty():
                    minutes.update(touched.get_nowait())
                window = replace(query, start=min(minutes), end=max(minutes) + 60)
                rows = await asyncio.to_thread(self.service.query, window)
                yield spb.MinuteUpdate(minutes=sorted(minutes),
                                       rows=[wire.row_to_pb(row) for row in rows])
        finally:
            stop()


class GrpcStorageClient:
    """StorageClient and QueryClient over gRPC: a deadline on every call, retries and a
    circuit breaker from its Guard. Retrying a write is safe: the batch id makes a
    repeat a no-op."""

    def __init__(self, target: str, deadline: float = DEADLINE_S,
                 guard: Guard | None = None, token: str | None = None,
                 ca: str | None = None) -> None:
        self.target = target
        self.deadline = deadline
        self.guard = guard or Guard("storage")
        self.metadata = bearer_metadata(token)
        self.channel = channel(target, ca)
        self.stub = spb_grpc.StorageStub(self.channel)

    def _call(self, method: str, message: object) -> object:
        return self.guard.call(lambda: self._once(method, message))

    def _once(self, method: str, message: object) -> object:
        try:
            return getattr(self.stub, method)(message, timeout=self.deadline,
                                              metadata=self.metadata)
        except grpc.RpcError as exc:
            raise peer_error(exc, f"storage at {self.target}") from None

    def write_batch(self, batch: Batch) -> bool:
        return self._call("Write", wire.batch_to_pb(batch)).applied  # type: ignore[attr-defined]

    def committed_end(self, source_id: str, start: int = 0) -> int | None:
        reply = self._call("CommittedEnd", spb.CommittedEndRequest(source_id=source_id,
                                                                   start=start))
        return reply.end if reply.found else None  # type: ignore[attr-defined]

    def query(self, query: Query) -> list[Row]:
        reply = self._call("Query", wire.query_to_pb(query))
        return [wire.row_from_pb(row) for row in reply.rows]  # type: ignore[attr-defined]

    def coverage(self, query: Query) -> Coverage:
        return wire.coverage_from_pb(self._call("GetCoverage", wire.query_to_pb(query)))

    def close(self) -> None:
        self.channel.close()


async def watch_minutes(target: str, query: Query, token: str | None = None,
                        ca: str | None = None) -> AsyncIterator[list[int]]:
    """The minutes storage reports as changed, for as long as the caller listens. With
    several storage instances each reports its own writes, so all are watched at once."""
    targets = [t.strip() for t in target.split(",") if t.strip()]
    if len(targets) == 1:
        async for minutes in _watch_one(targets[0], query, token, ca):
            yield minutes
        return
    merged: asyncio.Queue[list[int] | BaseException] = asyncio.Queue()

    async def pump(one: str) -> None:
        try:
            async for minutes in _watch_one(one, query, token, ca):
                await merged.put(minutes)
        except BaseException as exc:
            await merged.put(exc)

    pumps = [asyncio.create_task(pump(one)) for one in targets]
    try:
        while True:
            item = await merged.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        for task in pumps:
            task.cancel()


async def _watch_one(target: str, query: Query, token: str | None,
                     ca: str | None) -> AsyncIterator[list[int]]:
    async with aio_channel(target, ca) as open_channel:
        stub = spb_grpc.StorageStub(open_channel)
        try:
            async for update in stub.Watch(wire.query_to_pb(query),
                                           metadata=bearer_metadata(token)):
                yield list(update.minutes)
        except grpc.RpcError as exc:
            raise peer_error(exc, f"storage at {target}") from None
