"""The receivers on the ingest daemon's REST port: OTLP/HTTP logs (`POST /v1/logs`),
Loki's push API (`POST /loki/api/v1/push`) and JSON over HTTP (`POST /v1/events`). Each
answers 2xx only once processing has acknowledged the data (stored, or in its spool);
429/503 with Retry-After when processing or the receiver is full. Their wire formats
are the shippers' (OTLP, Loki), so they stay out of the OpenAPI schema."""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi import Query as Param
from starlette.concurrency import run_in_threadpool

from logctl.services.receivers import (
    JSON_TYPES,
    NDJSON_TYPES,
    PROTOBUF,
    Decoded,
    OtlpMapping,
    Receiver,
    TooLarge,
    batch_key,
    decompress,
    events,
    loki,
    otlp_logs,
    otlp_request,
    otlp_response,
)
from logctl.transport.rest.common import ApiError, needs, read_body, require_content_type

IDEMPOTENCY = "idempotency-key"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def receiver_router(receiver: Receiver, mapping: OtlpMapping, max_body: int) -> APIRouter:
    """The three receivers over one Receiver; each needs an `ingest` token."""
    router = APIRouter(include_in_schema=False, dependencies=needs("ingest"))

    async def take(request: Request, name: str, decode: Callable[[bytes], Decoded],
                   default_encoding: str = "") -> Decoded:
        raw = await read_body(request, max_body)
        encoding = request.headers.get("content-encoding") or default_encoding
        try:
            body = decompress(raw, encoding, max_body)
        except TooLarge as exc:
            raise ApiError(413, str(exc)) from None
        decoded = await run_in_threadpool(decode, body)
        key = batch_key(body, request.headers.get(IDEMPOTENCY))
        await run_in_threadpool(receiver.deliver, name, decoded, key, len(raw))
        return decoded

    @router.post("/v1/logs")
    async def otlp_logs_endpoint(request: Request) -> Response:
        require_content_type(request, PROTOBUF, *JSON_TYPES)
        kind = media_type(request)
        decoded = await take(request, "otlp",
                             lambda body: otlp_logs(otlp_request(body, kind), mapping))
        return Response(otlp_response(decoded, kind), media_type=kind)

    @router.post("/loki/api/v1/push", status_code=204)
    async def loki_push(request: Request) -> Response:
        require_content_type(request, PROTOBUF, *JSON_TYPES)
        kind = media_type(request)
        # Loki's protobuf bodies are snappy-compressed whether or not a shipper says so
        # (Promtail and Alloy send no Content-Encoding).
        await take(request, "loki", lambda body: loki(body, kind),
                   "snappy" if kind == PROTOBUF else "")
        return Response(status_code=204)

    @router.post("/v1/events")
    async def post_events(request: Request,
                          source: Annotated[str, Param(min_length=1, max_length=255)]
                          ) -> dict[str, int]:
        require_content_type(request, *JSON_TYPES, *NDJSON_TYPES)
        kind = media_type(request)
        decoded = await take(request, "events", lambda body: events(body, kind, source))
        return {"accepted": sum(c.records for c in decoded.chunks),
                "rejected": decoded.rejected}

    return router
