"""The base of every REST client: one httpx connection pool per peer, timeouts on every
call, and the peer's JSON error turned back into a library error."""

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from logctl.errors import LogctlError, PeerError, UsageError

TIMEOUT_S = 60.0


class RestClient:
    """Calls one REST peer; subclasses name it in `peer` for error messages."""

    peer = "service"

    def __init__(self, base_url: str, timeout: float = TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and return the decoded JSON body, or raise a LogctlError."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise PeerError(f"{self.peer} at {self.base_url} unreachable: {exc}") from None
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
        if 400 <= response.status_code < 500:
            return UsageError(f"{self.peer} refused the request ({response.status_code}): "
                              f"{message}")
        return PeerError(f"{self.peer} at {self.base_url} failed ({response.status_code}): "
                         f"{message}")

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
