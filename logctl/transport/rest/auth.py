"""Bearer tokens on REST: a dependency per route naming the role it needs. 401 without a
token or with a bad one, 403 for a role that may not; the token never appears in an
error message or a log line."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from logctl.auth import TokenBook, allows
from logctl.transport.rest.common import ApiError

bearer = HTTPBearer(auto_error=False, description="A logctl token: `logctl token create`.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def role_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The caller's role, or None when it sent no valid token."""
    book: TokenBook = request.app.state.tokens
    return book.role_of(credentials.credentials if credentials else None)


def require(needed: str) -> Callable[..., None]:
    """A route dependency: the caller's token must allow `needed`."""
    def check(request: Request, credentials: Credentials) -> None:
        if credentials is None:
            raise ApiError(401, "this endpoint needs a bearer token (Authorization: Bearer …)")
        role = role_of(request, credentials)
        if role is None:
            raise ApiError(401, "the bearer token is not valid (unknown, revoked or malformed)")
        if not allows(role, needed):
            raise ApiError(403, f"a {role} token may not do this: it needs {needed}")
    return check


def needs(role: str) -> list:
    """`dependencies=needs("read")` for a route."""
    return [Depends(require(role))]
