"""What every REST handler uses: JSON errors and their mapping from library errors, token
checks, and request bodies read within a size limit."""

import base64
import binascii
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException

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

log = logging.getLogger("logctl.rest")
MAX_BODY = 64 * 1024 * 1024
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


bearer = HTTPBearer(auto_error=False, description="A logctl token: `logctl token create`.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def authorize(request: Request, needed: str) -> None:
    """The caller's token must allow `needed`: 401 without a token or with a bad one, 403
    for a role that may not. The token never appears in an error message or a log line."""
    token = request_token(request)
    if token is None:
        raise ApiError(401, "this endpoint needs a token (Authorization: Bearer …, or Basic "
                            "with the token as the password)")
    book: TokenBook = request.app.state.tokens
    role = book.role_of(token)
    if role is None:
        raise ApiError(401, "the token is not valid (unknown, revoked or malformed)")
    if not allows(role, needed):
        raise ApiError(403, f"a {role} token may not do this: it needs {needed}")


def require(needed: str) -> Callable[..., None]:
    """A route dependency: `authorize(request, needed)`. The bearer scheme is declared for
    the OpenAPI schema; Basic is read from the header as well."""
    def check(request: Request, credentials: Credentials) -> None:
        authorize(request, needed)
    return check


def needs(role: str) -> list:
    """`dependencies=needs("read")` for a route."""
    return [Depends(require(role))]


def request_token(request: Request) -> str | None:
    """The token of an `Authorization` header: Bearer's, or Basic's password (what many
    log shippers and Grafana can send; the user name is ignored)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


class ErrorBody(BaseModel):
    """Every error answer: `{"error": {"code", "message"}}`."""

    class Detail(BaseModel):
        code: str
        message: str

    error: Detail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": _CODES[status].replace("_", " ")}
    for status in (400, 401, 403, 404, 413, 415, 422, 429, 503)}


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error as `{\"error\": {\"code\", \"message\"}}`, never a traceback."""
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
