"""The one shape every parser returns: a parsed log line, ready to aggregate."""

from collections.abc import Callable
from typing import NamedTuple


class Record(NamedTuple):
    """One request (or event) from a log line.

    `ts` is epoch seconds in UTC; `rt_ms` is the response time in milliseconds, None when
    the format has none; `severity` is the syslog severity (0 emerg .. 7 debug) for event
    logs, None for access logs.
    """

    ts: float
    method: str
    path: str
    status: int
    bytes: int
    rt_ms: float | None = None
    host: str = ""
    client: str = ""
    severity: int | None = None


LineParser = Callable[[bytes], Record | None]
# What a parser returns for a line that is neither a request nor malformed: a directive
# (W3C's `#Fields:`) or a comment. Compared by identity.
SKIP = Record(0.0, "", "", 0, 0)
