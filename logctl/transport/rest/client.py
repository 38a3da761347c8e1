"""The base of every REST client: one httpx connection pool per peer, timeouts on every
call, and the peer's JSON error turned back into a library error."""

import ssl
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from logctl.errors import LogctlError, PeerError, UsageError
from logctl.transport.resilience import Guard

TIMEOUT_S = 60.0


RETRYABLE_STATUS = {429, 502, 503, 504}


def trust(ca: str | None) -> ssl.SSLContext | bool:
    """What https peers are checked against: the given CA file, else the system's."""
    return ssl.create_default_context(cafile=ca) if ca else True


class RestClient:
    """Calls one REST peer through a Guard (retries, breaker); subclasses name the peer
    in `peer` for error messages."""

    peer = "service"

    def __init__(self, base_url: str, timeout: float = TIMEOUT_S,
                 guard: Guard | None = None, token: str | None = None,
                 ca: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers,
                                 verify=trust(ca))
        self.guard = guard or Guard(self.peer)

    def request(self, method: str, path: str, retry: bool = True, **kwargs: Any) -> Any:
        """Send a request and return the decoded JSON body, or raise a LogctlError.
        Pass retry=False for a body that cannot be sent twice (a stream)."""
        return self.guard.call(lambda: self.once(method, path, **kwargs), retry=retry)

    def once(self, method: str, path: str, **kwargs: Any) -> Any:
        """One attempt, with failures sorted into retryable or not."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise PeerError(f"{self.peer} at {self.base_url} unreachable: {exc}",
                            retryable=True) from None
        if response.status_code >= 400:
            raise self._error(response)
        return response.json()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def _error(self, response: httpx.Response) -> LogctlError:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200] or response.reason_phrase
        status = response.status_code
        if status in RETRYABLE_STATUS:
            hint = response.headers.get("retry-after", "")
            return PeerError(f"{self.peer} at {self.base_url} busy ({status}): {message}",
                             retryable=True,
                             retry_after=float(hint) if hint.replace(".", "").isdigit() else None)
        if 400 <= status < 500:
            return UsageError(f"{self.peer} refused the request ({status}): {message}")
        return PeerError(f"{self.peer} at {self.base_url} failed ({status}): {message}")

    def close(self) -> None:
        self.http.close()


def remote_url(remote: str, service_url: str) -> str:
    """The daemon to call: `remote` as given when it names a port, else its scheme and
    host with the port of the service's configured URL."""
    given = urlsplit(remote if "//" in remote else f"http://{remote}")
    if not given.hostname:
        raise UsageError(f"bad remote {remote!r}: use a URL like http://HOST[:PORT]")
    if given.port:
        return urlunsplit((given.scheme, given.netloc, "", "", ""))
    port = urlsplit(service_url).port
    host = f"[{given.hostname}]" if ":" in given.hostname else given.hostname
    return f"{given.scheme}://{host}:{port}"
