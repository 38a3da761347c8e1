"""What the access-log formats share: the request line, the bound on size fields, and the
skeleton of a parser that matches one pattern per line."""

import re
from typing import ClassVar

from logctl.formats.record import Record

# A response size of more digits (a petabyte or more) is no real response: the line is
# malformed, so that sums of sizes stay within the store's 64-bit integers.
MAX_SIZE_DIGITS = 15
INVALID = "(invalid)"


def split_request(request: bytes) -> tuple[str, str]:
    """'GET /a?b HTTP/1.1' to ('GET', '/a?b'). A request that is not 'METHOD PATH' (empty,
    or bytes of another protocol: a TLS handshake on an HTTP port) is still a request
    with its status: method '-', route INVALID."""
    parts = request.split(b" ")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return "-", INVALID
    return parts[0].decode("ascii", "replace"), parts[1].decode("utf-8", "replace")


def count(field: bytes) -> int:
    """A size or status field; '-' (none) is 0."""
    return 0 if field == b"-" else int(field)


class PatternParser:
    """One access-log line per call: `LINE` (with a `request` group) matched at the start,
    or searched for when `SEARCH` (behind a syslog header); `stamp` reads the time from the
    match and `record` builds the rest. A line without both is malformed (None)."""

    LINE: ClassVar[re.Pattern[bytes]]
    SEARCH: ClassVar[bool] = False

    def __call__(self, line: bytes) -> Record | None:
        match = self.LINE.search(line) if self.SEARCH else self.LINE.match(line)
        if match is None:
            return None
        ts = self.stamp(match)
        if ts is None:
            return None
        method, path = split_request(match["request"])
        return self.record(match, ts, method, path)

    def stamp(self, match: re.Match[bytes]) -> float | None:
        raise NotImplementedError

    def record(self, match: re.Match[bytes], ts: float, method: str, path: str) -> Record:
        raise NotImplementedError
