"""Analytics over gRPC: Summary, Top, TimeSeries and the Watch stream, answering with
the figures of the JSON contract; and a blocking client."""

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import grpc

from logctl.errors import UsageError
from logctl.pb import analytics_pb2 as apb
from logctl.pb import analytics_pb2_grpc as apb_grpc
from logctl.services.analytics import AnalyticsService, MetricsRequest
from logctl.transport import wire
from logctl.transport.grpc.auth import bearer_metadata
from logctl.transport.grpc.common import DEADLINE_S, channel, maps_errors, peer_error
from logctl.transport.grpc.storage import watch_minutes

SERVICE_NAME = "logctl.v1.Analytics"
ROLES = {f"/{SERVICE_NAME}/{method}": "read" for method in ("Summary", "Top", "TimeSeries",
                                                             "Watch")}


def request_from_pb(msg: apb.MetricsRequest) -> MetricsRequest:
    return MetricsRequest(msg.since or None, msg.until or None, msg.by or None,
                          msg.step or None, msg.top or None, tuple(msg.sources),
                          tuple(msg.hosts), msg.route or None, tuple(msg.statuses),
                          tuple(msg.methods))


def request_to_pb(request: MetricsRequest) -> apb.MetricsRequest:
    return apb.MetricsRequest(since=request.since or "", until=request.until or "",
                              by=request.by or "", step=request.step or "",
                              top=request.top or 0, sources=request.sources,
                              hosts=request.hosts, route=request.route or "",
                              statuses=request.statuses, methods=request.methods)


class AnalyticsServicer(apb_grpc.AnalyticsServicer):
    """gRPC front of the analytics service; `storage_target` feeds Watch."""

    def __init__(self, service: AnalyticsService, storage_target: str,
                 token: str | None = None, ca: str | None = None) -> None:
        self.service = service
        self.storage_target = storage_target
        self.token = token
        self.ca = ca

    async def _answer(self, request: MetricsRequest) -> dict[str, Any]:
        result = await asyncio.to_thread(self.service.answer, request, time.time())
        return result.body

    @maps_errors
    async def Summary(self, request: apb.MetricsRequest, context: grpc.aio.ServicerContext
                      ) -> apb.SummaryReply:
        asked = request_from_pb(request)
        if asked.by or asked.step:
            raise UsageError("Summary takes no by or step: use Top or TimeSeries")
        return apb.SummaryReply(summary=wire.summary_to_pb(await self._answer(asked)))

    @maps_errors
    async def Top(self, request: apb.MetricsRequest, context: grpc.aio.ServicerContext
                  ) -> apb.TopReply:
        asked = request_from_pb(request)
        if not asked.by or asked.step:
            raise UsageError("Top needs by and takes no step")
        return apb.TopReply(groups=wire.groups_to_pb((await self._answer(asked))["groups"]))

    @maps_errors
    async def TimeSeries(self, request: apb.MetricsRequest,
                         context: grpc.aio.ServicerContext) -> apb.TimeSeriesReply:
        asked = request_from_pb(request)
        if not asked.step:
            raise UsageError("TimeSeries needs a step")
        body = await self._answer(asked)
        return apb.TimeSeriesReply(series=[wire.entry_to_pb(e) for e in body["series"]])

    @maps_errors
    async def Watch(self, request: apb.MetricsRequest, context: grpc.aio.ServicerContext
                    ) -> AsyncIterator[apb.SeriesEntry]:
        """A one-minute entry for each minute new data lands in, as it now stands."""
        asked = request_from_pb(request)
        query = replace(asked.to_query(time.time()), step_minutes=1, start=None, end=None)
        async for minutes in watch_minutes(self.storage_target, query, self.token, self.ca):
            window = replace(query, start=min(minutes), end=max(minutes) + 60)
            result = await asyncio.to_thread(self.service.metrics, window, asked.top)
            for entry in result.body["series"]:
                yield wire.entry_to_pb(entry)


class GrpcAnalyticsClient:
    """Asks an analytics daemon over gRPC; answers are the JSON contract, key for key."""

    def __init__(self, target: str, deadline: float = DEADLINE_S, token: str | None = None,
                 ca: str | None = None) -> None:
        self.target = target
        self.deadline = deadline
        self.metadata = bearer_metadata(token)
        self.channel = channel(target, ca)
        self.stub = apb_grpc.AnalyticsStub(self.channel)

    def answer(self, request: MetricsRequest) -> dict[str, Any]:
        message = request_to_pb(request)
        try:
            if request.step:
                reply = self.stub.TimeSeries(message, timeout=self.deadline,
                                             metadata=self.metadata)
                return {"series": [wire.entry_from_pb(e, bool(request.by))
                                   for e in reply.series]}
            if request.by:
                reply = self.stub.Top(message, timeout=self.deadline, metadata=self.metadata)
                return {"groups": wire.groups_from_pb(reply.groups)}
            reply = self.stub.Summary(message, timeout=self.deadline, metadata=self.metadata)
            return wire.summary_from_pb(reply.summary)
        except grpc.RpcError as exc:
            raise peer_error(exc, f"analytics at {self.target}") from None

    def close(self) -> None:
        self.channel.close()
