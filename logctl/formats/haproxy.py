"""HAProxy's HTTP log (`option httplog`), as HAProxy writes it to a file, to stdout or
through syslog (an RFC 3164 or 5424 header before the client is skipped):

    10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750
      - - ---- 1/1/1/1/0 0/0 {1wt.eu} {} "GET /index.html HTTP/1.1"

The response time is Ta, the last of the five timers (the whole request, in ms; -1 when
the request was aborted, which leaves no latency). The host is `frontend/backend`. A
status of -1 (the client went away before any response) counts as status 0. HAProxy's
accept date carries no zone: it is read as UTC, as syslog stamps are.
"""

import re

from logctl.formats.access import MAX_SIZE_DIGITS, PatternParser
from logctl.formats.record import Record
from logctl.formats.timestamps import parse_clf

LINE = re.compile(
    rb"(?:^|\s)(?P<client>[^\s\[]+):\d+ "
    rb"\[(?P<ts>\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2})(?:\.\d+)?\] "
    rb"(?P<frontend>\S+?)~? (?P<backend>[^/\s]+)/\S+ "
    rb"-?\d+/-?\d+/-?\d+/-?\d+/\+?(?P<ta>-?\d{1,9}) (?P<status>-1|\d{3}) \+?(?P<bytes>\d{1,%d}) "
    rb"\S+ \S+ \S{4} \S+ \S+ (?:\{[^}]*\} ){0,2}\"(?P<request>(?:[^\"\\]|\\.)*)\"\s*$"
    % MAX_SIZE_DIGITS
)


class HaproxyParser(PatternParser):
    """Parses one HAProxy HTTP log line (plain, or with its syslog header)."""

    LINE = LINE
    SEARCH = True

    def stamp(self, match: re.Match[bytes]) -> float | None:
        return parse_clf(match["ts"].decode("ascii"), None)

    def record(self, match: re.Match[bytes], ts: float, method: str, path: str) -> Record:
        elapsed = int(match["ta"])
        frontend, backend = (match[name].decode("utf-8", "replace")
                             for name in ("frontend", "backend"))
        return Record(
            ts=ts, method=method, path=path, status=max(int(match["status"]), 0),
            bytes=int(match["bytes"]), rt_ms=float(elapsed) if elapsed >= 0 else None,
            host=f"{frontend}/{backend}", client=match["client"].decode("utf-8", "replace"),
        )
