"""Bearer tokens on gRPC: a server interceptor that reads `authorization` metadata and
answers UNAUTHENTICATED or PERMISSION_DENIED before the method runs. Methods not listed
(grpc.health.v1) stay open."""

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from logctl.auth import TokenBook, allows

TOKEN_KEY = "authorization"


def bearer_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying a token (none without one)."""
    return ((TOKEN_KEY, f"Bearer {token}"),) if token else ()


class TokenInterceptor(grpc.aio.ServerInterceptor):
    """Checks each call's token against the role its method needs."""

    def __init__(self, tokens: TokenBook, roles: dict[str, str]) -> None:
        self.tokens = tokens
        self.roles = roles

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        needed = self.roles.get(details.method)
        handler = await continuation(details)
        if needed is None or handler is None:
            return handler
        token = _token(details.invocation_metadata)
        role = self.tokens.role_of(token)
        if token is None:
            return _refusal(handler, grpc.StatusCode.UNAUTHENTICATED, "this call needs a "
                            "bearer token in the authorization metadata")
        if role is None:
            return _refusal(handler, grpc.StatusCode.UNAUTHENTICATED,
                            "the bearer token is not valid (unknown, revoked or malformed)")
        if not allows(role, needed):
            return _refusal(handler, grpc.StatusCode.PERMISSION_DENIED,
                            f"a {role} token may not do this: it needs {needed}")
        return handler


def _token(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == TOKEN_KEY and isinstance(value, str) and value.startswith("Bearer "):
            return value.removeprefix("Bearer ").strip() or None
    return None


def _refusal(handler: Any, code: grpc.StatusCode, message: str) -> Any:
    """A handler of the same shape as the method's that only refuses."""
    if handler.unary_stream:
        async def refuse_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort(code, message)
            yield  # pragma: no cover - abort raises
        return grpc.unary_stream_rpc_method_handler(
            refuse_stream, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message)
    return grpc.unary_unary_rpc_method_handler(
        refuse, request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer)
