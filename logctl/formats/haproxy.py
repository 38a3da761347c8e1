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
from dataclasses import dataclass

from logctl.formats.combined import MAX_SIZE_DIGITS, split_request
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


@dataclass(frozen=True)
class HaproxyParser:
    """Parses one HAProxy HTTP log line (plain, or with its syslog header)."""

    def __call__(self, line: bytes) -> Record | None:
        match = LINE.search(line)
        if match is None:
            return None
        client, stamp, frontend, backend, ta, status, size, request = match.groups()
        ts = parse_clf(stamp.decode("ascii"), None)
        if ts is None:
            return None
        method, path = split_request(request)
        elapsed = int(ta)
        return Record(
            ts=ts, method=method, path=path, status=max(int(status), 0), bytes=int(size),
            rt_ms=float(elapsed) if elapsed >= 0 else None,
            host=f"{frontend.decode('utf-8', 'replace')}/{backend.decode('utf-8', 'replace')}",
            client=client.decode("utf-8", "replace"),
        )
