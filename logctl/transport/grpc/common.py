"""What the gRPC servers and clients share: status codes for library errors, the standard
health service, message size limits and deadlines."""

import functools
import inspect
from collections.abc import Callable
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from logctl.errors import (
    LogctlError,
    Overloaded,
    ParseError,
    PeerError,
    StoreError,
    UsageError,
)

MAX_MESSAGE = 64 * 1024 * 1024
OPTIONS = [("grpc.max_receive_message_length", MAX_MESSAGE),
           ("grpc.max_send_message_length", MAX_MESSAGE)]
DEADLINE_S = 30.0


def balanced(target: str) -> tuple[str, list[tuple[str, Any]]]:
    """A target naming several instances (`127.0.0.1:7413,127.0.0.1:7423`) becomes one
    round-robin channel over all of them: calls go to the instances that are up."""
    if "," not in target:
        return target, OPTIONS
    return f"ipv4:{target}", [*OPTIONS, ("grpc.lb_policy_name", "round_robin")]


def trusting(ca: str) -> grpc.ChannelCredentials:
    """TLS credentials that trust the CA in this PEM file."""
    with open(ca, "rb") as handle:
        return grpc.ssl_channel_credentials(root_certificates=handle.read())


def channel(target: str, ca: str | None) -> grpc.Channel:
    """A blocking channel: TLS when a CA file is given, else plain (loopback)."""
    address, options = balanced(target)
    if ca:
        return grpc.secure_channel(address, trusting(ca), options=options)
    return grpc.insecure_channel(address, options=options)


def aio_channel(target: str, ca: str | None) -> grpc.aio.Channel:
    """The asyncio twin of `channel` (one instance: a watch stream lives on one)."""
    if ca:
        return grpc.aio.secure_channel(target, trusting(ca), options=OPTIONS)
    return grpc.aio.insecure_channel(target, options=OPTIONS)


def code_for(exc: LogctlError) -> grpc.StatusCode:
    """INVALID_ARGUMENT is the caller's fault (do not retry); UNAVAILABLE may be retried."""
    if isinstance(exc, UsageError | ParseError):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(exc, StoreError | PeerError):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.FAILED_PRECONDITION


async def abort(context: grpc.aio.ServicerContext, exc: LogctlError) -> None:
    """End a call with the error's status; an overloaded service says when to retry."""
    if isinstance(exc, PeerError) and exc.retry_after is not None:
        context.set_trailing_metadata((("retry-after", f"{exc.retry_after:g}"),))
    code = grpc.StatusCode.RESOURCE_EXHAUSTED if isinstance(exc, Overloaded) else code_for(exc)
    await context.abort(code, str(exc))


def maps_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Servicer methods (unary or streaming) answer library errors with their status code
    and a one-line message, never a stack trace."""
    if inspect.isasyncgenfunction(method):
        @functools.wraps(method)
        async def stream(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                async for item in method(self, request, context):
                    yield item
            except LogctlError as exc:
                await abort(context, exc)
        return stream

    @functools.wraps(method)
    async def unary(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except LogctlError as exc:
            await abort(context, exc)
    return unary


def new_server(interceptors: list[grpc.aio.ServerInterceptor]) -> tuple[grpc.aio.Server, Any]:
    """An aio server with size limits, interceptors (auth) and grpc.health.v1."""
    server = grpc.aio.server(options=OPTIONS, interceptors=interceptors)
    checker = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    return server, checker


async def mark_serving(checker: Any, names: list[str]) -> None:
    """Report SERVING for the server as a whole and for each named service."""
    for name in ["", *names]:
        await checker.set(name, health_pb2.HealthCheckResponse.SERVING)


RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
             grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED}


def peer_error(exc: grpc.RpcError, target: str) -> LogctlError:
    """A failed call as a library error: the peer's INVALID_ARGUMENT stays the caller's
    fault; UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED and ABORTED may be retried."""
    code, details = exc.code(), exc.details()
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return UsageError(details)
    hint = dict(exc.trailing_metadata() or ()).get("retry-after")
    return PeerError(f"{target}: {code.name.lower()}: {details}", retryable=code in RETRYABLE,
                     retry_after=float(hint) if hint else None)
