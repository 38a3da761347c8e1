"""Processing over REST: `POST /v1/chunks` (raw lines in the body, where they came from
in the query string), and the client ingest uses to spread chunks over instances."""

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi import Query as Param
from starlette.concurrency import run_in_threadpool

from logctl.auth import TokenBook
from logctl.errors import Overloaded, PeerError
from logctl.formats.fields import parse_overrides
from logctl.services.contracts import ENGINES, ChunkAck, ChunkRequest, FormatSpec
from logctl.services.processing import ProcessingService, format_for
from logctl.store.base import Position
from logctl.transport.resilience import Guard, RetryPolicy
from logctl.transport.rest.app import create_app
from logctl.transport.rest.client import TIMEOUT_S, RestClient
from logctl.transport.rest.common import (
    MAX_BODY,
    ApiError,
    needs,
    read_body,
    require_content_type,
)

CHUNK_TYPES = ("application/octet-stream", "text/plain")


def chunk_params(request: ChunkRequest) -> dict[str, Any]:
    """A chunk's metadata as query parameters (the body carries its bytes)."""
    spec, position = request.format, request.position
    return {"source": request.source, "source_id": position.source_id,
            "start": position.start, "end": position.end, "format": spec.name,
            "rt_unit": spec.rt_unit, "engine": spec.engine, "now": spec.now,
            "field": [f"{name}={key}" for name, key in spec.fields],
            **({"host": spec.host} if spec.host else {}),
            **({"header": spec.header} if spec.header else {})}


def ack_json(ack: ChunkAck) -> dict[str, Any]:
    return {"batch_id": ack.batch_id, "applied": ack.applied, "lines": ack.lines,
            "requests": ack.requests, "malformed": ack.malformed, "end": ack.end}


def processing_app(service: ProcessingService, tokens: TokenBook, max_body: int = MAX_BODY,
                   max_in_flight: int = 8,
                   health: Callable[[], dict[str, Any]] | None = None) -> FastAPI:
    """The processing REST app over a processing service (workers + storage client).
    At most `max_in_flight` chunks are worked on at once; more are refused with 429 and
    Retry-After, so a fast ingest slows down instead of queueing without bound."""
    in_flight = 0  # touched only on the event loop's thread, so a plain count will do
    app = create_app("processing", tokens, lambda: {"queue_depth": in_flight,
                                            **(health() if health else {})})

    @app.post("/v1/chunks", summary="Parse, aggregate and store one chunk of log lines",
              dependencies=needs("ingest"))
    async def post_chunk(
        request: Request, source: Annotated[str, Param(min_length=1, max_length=512)],
        source_id: Annotated[str, Param(min_length=1, max_length=256)],
        start: Annotated[int, Param(ge=0)], end: Annotated[int, Param(ge=0)],
        format: Annotated[str, Param(min_length=1, max_length=4096)],
        rt_unit: str = "auto", engine: str = "auto", now: float = 0.0,
        field: Annotated[list[str] | None, Param()] = None,
        host: Annotated[str, Param(max_length=255)] = "",
        header: Annotated[str, Param(max_length=8192)] = "",
    ) -> dict[str, Any]:
        nonlocal in_flight
        require_content_type(request, *CHUNK_TYPES)
        data = await read_body(request, max_body)
        if len(data) > end - start:  # shorter is fine: an overlong line is cut
            raise ApiError(400, f"body is {len(data)} bytes but the range {start}..{end} "
                                f"holds {end - start}")
        spec = replace(_format_spec(format, rt_unit, engine, now, field or []), host=host,
                       header=header)
        chunk = ChunkRequest(source, Position(source_id, start, end), spec, data)
        if in_flight >= max_in_flight:
            raise Overloaded(f"{in_flight} chunks in progress, the most this instance "
                             "takes at once", retry_after=1.0)
        in_flight += 1
        try:
            ack = await run_in_threadpool(lambda: next(iter(service.process([chunk]))))
        finally:
            in_flight -= 1
        return ack_json(ack)

    return app


def _format_spec(name: str, rt_unit: str, engine: str, now: float,
                 fields: list[str]) -> FormatSpec:
    """The chunk's format, checked before any work: unknown names and bad options are 400.
    The parser is built once per spec (`format_for` caches it), not once per chunk."""
    if engine not in ENGINES:
        raise ApiError(400, f"unknown engine {engine!r}: use {', '.join(ENGINES)}")
    spec = FormatSpec(name, rt_unit, tuple(parse_overrides(fields).items()), now, engine)
    format_for(spec)
    return spec


class RestProcessingClient:
    """ProcessingClient over REST: chunks go round-robin to every instance, a few in
    flight per instance, and acks come back in request order. A chunk whose instance
    fails (down, overloaded, breaker open) goes to the next one, with backoff between
    rounds, until the retry budget is spent: resending is safe, the batch id dedupes."""

    def __init__(self, urls: list[str], per_instance: int = 2, timeout: float = TIMEOUT_S,
                 guards: Callable[[str], Guard] | None = None,
                 policy: RetryPolicy | None = None, token: str | None = None,
                 ca: str | None = None) -> None:
        make = guards or (lambda peer: Guard(peer))
        many = len(urls) > 1
        self.clients = [_ChunkPoster(url, timeout, make(f"processing.{i}" if many
                                                        else "processing"), token, ca)
                        for i, url in enumerate(urls)]
        self.in_flight = max(1, per_instance * len(urls))
        self.policy = policy or RetryPolicy()

    def process(self, requests: Iterable[ChunkRequest]) -> Iterator[ChunkAck]:
        firsts = itertools.cycle(range(len(self.clients)))
        pending: deque[Future[ChunkAck]] = deque()
        with ThreadPoolExecutor(self.in_flight, thread_name_prefix="chunks") as pool:
            try:
                for request in requests:
                    pending.append(pool.submit(self._send, request, next(firsts)))
                    if len(pending) >= self.in_flight:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()

    def _send(self, request: ChunkRequest, first: int) -> ChunkAck:
        order = self.clients[first:] + self.clients[:first]
        started, rounds = time.monotonic(), 0
        while True:
            last: PeerError | None = None
            for client in order:
                try:
                    return client.guard.call(lambda c=client: c.post(request), retry=False)
                except PeerError as exc:
                    if not exc.retryable:
                        raise
                    last = exc
            assert last is not None
            pause = self.policy.delay(rounds, last.retry_after)
            if time.monotonic() - started + pause > self.policy.budget:
                raise last
            rounds += 1
            time.sleep(pause)

    def close(self) -> None:
        for client in self.clients:
            client.close()


class _ChunkPoster(RestClient):
    peer = "processing"

    def post(self, request: ChunkRequest) -> ChunkAck:
        body = self.once("POST", "/v1/chunks", params=chunk_params(request),
                         content=request.data,
                         headers={"content-type": "application/octet-stream"})
        return ChunkAck(**body)
