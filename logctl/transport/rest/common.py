"""What every REST service shares: JSON errors, body limits, request statistics, the
`/v1/health` endpoint and `/metrics`."""

import asyncio
import functools
import hashlib
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import psutil
from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from logctl import __version__
from logctl.auth import TokenBook, allows
from logctl.errors import (
    Forbidden,
    InputError,
    LogctlError,
    Overloaded,
    ParseError,
    PeerError,
    StoreError,
    UsageError,
)
from logctl.metrics.ranks import rank
from logctl.transport.rest.prometheus import CONTENT_TYPE, exposition, registry_for

log = logging.getLogger("logctl.rest")
MAX_BODY = 64 * 1024 * 1024
WINDOW_SECONDS = 60.0
_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "too_large",
          415: "unsupported_media_type", 422: "invalid_request", 429: "too_many_requests",
          500: "internal", 502: "bad_gateway", 503: "unavailable"}


class ApiError(Exception):
    """An error answered as `{"error": {"code", "message"}}` with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": _CODES.get(status, "error"), "message": message}},
                        status_code=status)


def status_for(exc: LogctlError) -> int:
    """The HTTP status of a library error: the caller's fault (4xx) or a peer's (5xx)."""
    if isinstance(exc, Overloaded):
        return exc.http_status
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, UsageError | ParseError | InputError):
        return 400
    if isinstance(exc, PeerError | StoreError):
        return 503
    return 500


class RequestStats:
    """Requests of the last minute, for req/s, error rate and latency in the health page."""

    def __init__(self) -> None:
        self.started = time.time()
        self.recent: deque[tuple[float, bool, float]] = deque(maxlen=200_000)
        self.total = 0

    def record(self, failed: bool, ms: float) -> None:
        self.total += 1
        self.recent.append((time.monotonic(), failed, ms))

    def snapshot(self) -> dict[str, Any]:
        cutoff = time.monotonic() - WINDOW_SECONDS
        while self.recent and self.recent[0][0] < cutoff:
            self.recent.popleft()
        window = list(self.recent)
        times = sorted(ms for _, _, ms in window)
        span = min(WINDOW_SECONDS, max(time.time() - self.started, 1.0))
        return {
            "requests_total": self.total,
            "requests_per_s": round(len(window) / span, 3),
            "error_rate": round(sum(f for _, f, _ in window) / len(window), 4) if window else 0.0,
            "latency_ms": {"p50": rank(times, 0.5), "p95": rank(times, 0.95)},
        }


@functools.cache
def _process(pid: int) -> psutil.Process:
    """One Process object per pid: psutil's CPU percent is measured between two calls on
    the same object (a fresh one always says 0.0)."""
    return psutil.Process(pid)


def process_figures() -> dict[str, Any]:
    """CPU, memory and descriptors of this process (psutil)."""
    proc = _process(os.getpid())
    with proc.oneshot():
        return {"cpu_percent": proc.cpu_percent(interval=None),
                "rss_bytes": proc.memory_info().rss, "open_fds": proc.num_fds(),
                "pid": os.getpid()}


bearer = HTTPBearer(auto_error=False, description="A logctl token: `logctl token create`.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def require(needed: str) -> Callable[..., None]:
    """A route dependency: the caller's token must allow `needed`. 401 without a token
    or with a bad one, 403 for a role that may not; the token never appears in an error
    message or a log line."""
    def check(request: Request, credentials: Credentials) -> None:
        if credentials is None:
            raise ApiError(401, "this endpoint needs a bearer token (Authorization: Bearer …)")
        book: TokenBook = request.app.state.tokens
        role = book.role_of(credentials.credentials)
        if role is None:
            raise ApiError(401, "the bearer token is not valid (unknown, revoked or malformed)")
        if not allows(role, needed):
            raise ApiError(403, f"a {role} token may not do this: it needs {needed}")
    return check


def needs(role: str) -> list:
    """`dependencies=needs("read")` for a route."""
    return [Depends(require(role))]


@dataclass(frozen=True)
class Limits:
    """Per-request bounds every app keeps: requests one client may have open at once
    (429 beyond), and how long a request may take (503 beyond; streamed uploads are
    bounded by their size instead)."""

    per_client: int = 32
    timeout: float = 300.0


def create_app(service: str, tokens: TokenBook,
               health: Callable[[], dict[str, Any]] | None = None) -> FastAPI:
    """A FastAPI app for one service, with JSON errors, request statistics and health.
    `health` adds the service's own figures (queue depth, store size...) and may set
    `status`, `reason` and `breakers`; without a valid token, health says only the service
    and its state. `/metrics` needs a `read` token unless `app.state.metrics_open`;
    `app.state.limits` bounds each request (the daemon sets both from its settings)."""
    app = FastAPI(title=f"logctl {service}", version=__version__,
                  description=f"The logctl {service} service (REST, /v1). Every endpoint "
                              "but /v1/health needs a bearer token (`logctl token create`).",
                  responses=ERROR_RESPONSES)
    stats = RequestStats()
    app.state.stats = stats
    app.state.tokens = tokens
    _install_error_handlers(app)

    app.state.limits = Limits()
    app.state.metrics_open = False
    open_requests: dict[str, int] = {}

    @app.middleware("http")
    async def count_requests(request: Request,
                             call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        bounds: Limits = request.app.state.limits
        client = request.client.host if request.client else "-"
        if open_requests.get(client, 0) >= bounds.per_client:
            response = error_response(429, f"more than {bounds.per_client} requests at once "
                                           "from one client")
            response.headers["Retry-After"] = "1"
            return response
        open_requests[client] = open_requests.get(client, 0) + 1
        started = time.perf_counter()
        try:
            response = await _within(bounds.timeout, request, call_next)
        finally:
            open_requests[client] -= 1
            if not open_requests[client]:
                del open_requests[client]
        stats.record(response.status_code >= 500, (time.perf_counter() - started) * 1000)
        return response

    def health_body() -> dict[str, Any]:
        extra = health() if health else {}
        breakers = extra.pop("breakers", {})
        status, reason = judge(extra.pop("status", "ok"), extra.pop("reason", ""), breakers)
        return {"service": service, "status": status, "reason": reason,
                "version": __version__, "uptime_s": round(time.time() - stats.started, 3),
                **stats.snapshot(), **process_figures(), "queue_depth": 0,
                "breakers": breakers, **extra}

    registry = registry_for(service, health_body)

    @app.get("/v1/health", summary="Service state and figures (in full with a token)")
    def get_health(request: Request) -> dict[str, Any]:
        body = health_body()
        if tokens.role_of(bearer_token(request)) is None:
            return {"service": service, "status": body["status"]}
        return body

    read = require("read")

    @app.get("/metrics", summary="The health figures in Prometheus text format",
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    def get_metrics(request: Request, credentials: Credentials) -> Response:
        if not request.app.state.metrics_open:
            read(request, credentials)
        return Response(exposition(registry), media_type=CONTENT_TYPE)

    return app


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, if any."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class ErrorBody(BaseModel):
    """Every error answer: `{"error": {"code", "message"}}`."""

    class Detail(BaseModel):
        code: str
        message: str

    error: Detail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": _CODES[status].replace("_", " ")}
    for status in (400, 401, 403, 404, 413, 415, 422, 429, 503)}


def judge(status: str, reason: str, breakers: dict[str, str]) -> tuple[str, str]:
    """The service's state and why: an open breaker to a peer degrades an ok service
    (`breakers` maps a peer to closed/open/half_open; circuit breakers fill it in)."""
    opened = sorted(peer for peer, state in breakers.items() if state == "open")
    if status == "ok" and opened:
        return "degraded", f"circuit open to {', '.join(opened)}"
    return status, reason or ("" if status == "ok" else status)


async def _within(timeout: float, request: Request,
                  call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """The response, or 503 once `timeout` passes (uploads stream, so they are exempt)."""
    if request.url.path == "/v1/uploads" and request.method == "POST":
        return await call_next(request)
    try:
        return await asyncio.wait_for(call_next(request), timeout)
    except TimeoutError:
        return error_response(503, f"the request took longer than {timeout:g}s")


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        response = error_response(exc.status, str(exc))
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(LogctlError)
    async def logctl_error(_: Request, exc: LogctlError) -> JSONResponse:
        response = error_response(status_for(exc), str(exc))
        if isinstance(exc, PeerError) and exc.retry_after is not None:
            response.headers["Retry-After"] = f"{max(1, round(exc.retry_after))}"
        return response

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        """A bug, not the caller's fault: logged with its traceback, answered in JSON."""
        log.exception("%s %s failed", request.method, request.url.path)
        return error_response(500, f"internal error ({type(exc).__name__}); the daemon's "
                                   "log has the details")

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return error_response(422, problems)


def require_content_type(request: Request, *allowed: str) -> None:
    """Refuse a body of another media type with 415."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in allowed:
        raise ApiError(415, f"content type {kind or '(none)'!r} not accepted: send "
                            f"{' or '.join(allowed)}")


def _check_declared_size(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"body of {declared} bytes is over the {limit}-byte limit")


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, refused with 413 once it passes `limit` (declared or streamed)."""
    _check_declared_size(request, limit)
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise ApiError(413, f"body is over the {limit}-byte limit")
        parts.append(part)
    return b"".join(parts)


async def stream_to_file(request: Request, path: Path, limit: int) -> tuple[int, str]:
    """Write the body to `path` as it arrives (never whole in memory); returns its size and
    sha256. A body over `limit` is refused with 413 and the partial file removed."""
    _check_declared_size(request, limit)
    digest, size = hashlib.sha256(), 0
    try:
        with open(path, "wb") as handle:
            async for part in request.stream():
                size += len(part)
                if size > limit:
                    raise ApiError(413, f"upload is over the {limit}-byte limit")
                digest.update(part)
                handle.write(part)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()
