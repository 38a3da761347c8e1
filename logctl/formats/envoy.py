"""Envoy's default access log format:

    [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
      %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
      %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
      "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"

The response time is %DURATION% (ms); bytes are those sent; the host is the :authority.
A response code of 0 (the downstream went away before a response) counts, as status 0.
"""

import re

from logctl.formats.access import MAX_SIZE_DIGITS, PatternParser
from logctl.formats.record import Record
from logctl.formats.timestamps import parse_iso

_Q = rb'"(?:[^"\\]|\\.)*"'
LINE = re.compile(
    rb"^\[(?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))\] "
    rb'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{1,3}) \S+ \d{1,%d} (?P<sent>\d{1,%d}) '
    rb"(?P<duration>\d{1,12}|-) \S+ (?P<xff>%s) %s %s \"(?P<authority>(?:[^\"\\]|\\.)*)\" "
    rb"%s\s*$" % (MAX_SIZE_DIGITS, MAX_SIZE_DIGITS, _Q, _Q, _Q, _Q)
)


class EnvoyParser(PatternParser):
    """Parses one line of Envoy's default access log format."""

    LINE = LINE

    def stamp(self, match: re.Match[bytes]) -> float | None:
        return parse_iso(match["time"].decode("ascii"))

    def record(self, match: re.Match[bytes], ts: float, method: str, path: str) -> Record:
        duration, authority = match["duration"], match["authority"]
        return Record(
            ts=ts, method=method, path=path, status=int(match["status"]),
            bytes=int(match["sent"]), rt_ms=None if duration == b"-" else float(duration),
            host="" if authority == b"-" else authority.decode("utf-8", "replace"),
            client=match["xff"].strip(b'"').decode("utf-8", "replace"),
        )
