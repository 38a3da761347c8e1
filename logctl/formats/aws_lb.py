"""AWS load balancer access logs: the Application Load Balancer's (its first field is the
request type: http, https, h2, grpcs, ws, wss) and the Classic Load Balancer's (no type),
one parser for both since their first thirteen fields agree:

    [type] time elb client:port target:port request_time target_time response_time
      elb_status target_status received_bytes sent_bytes "request" "user_agent" ...

The response time is the sum of the three processing times (seconds; -1 in any means the
load balancer could not say, so none). The status is the load balancer's (`-`: none sent,
status 0); bytes are those sent to the client; the host is the request URL's host, and
the route its path."""

import re
from urllib.parse import urlsplit

from logctl.formats.access import MAX_SIZE_DIGITS, PatternParser, count
from logctl.formats.record import Record
from logctl.formats.timestamps import parse_iso

_TIME = rb"-?\d{1,9}(?:\.\d{1,9})?"
LINE = re.compile(
    rb"^(?:[a-z0-9]{1,8} )?(?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z) \S+ "
    rb"(?P<client>\S+?)(?::\d+)? \S+ (?P<t1>%s) (?P<t2>%s) (?P<t3>%s) "
    rb"(?P<status>\d{3}|-) (?:\d{3}|-) \d{1,%d} (?P<sent>\d{1,%d}) "
    rb"\"(?P<request>(?:[^\"\\]|\\.)*)\" \"(?:[^\"\\]|\\.)*\"(?: .*)?$"
    % (_TIME, _TIME, _TIME, MAX_SIZE_DIGITS, MAX_SIZE_DIGITS)
)


class AwsLbParser(PatternParser):
    """Parses one ALB or classic ELB access log line."""

    LINE = LINE

    def stamp(self, match: re.Match[bytes]) -> float | None:
        return parse_iso(match["time"].decode("ascii"))

    def record(self, match: re.Match[bytes], ts: float, method: str, target: str) -> Record:
        host, path = split_target(target)
        times = [float(match[name]) for name in ("t1", "t2", "t3")]
        return Record(
            ts=ts, method=method, path=path, status=count(match["status"]),
            bytes=int(match["sent"]), rt_ms=None if min(times) < 0 else sum(times) * 1000.0,
            host=host, client=match["client"].decode("utf-8", "replace"),
        )


def split_target(target: str) -> tuple[str, str]:
    """The host and path of a logged request URL (`http://host:port/path`); a target
    that is no URL (or not a valid one, such as an unclosed IPv6 bracket) is the path."""
    try:
        url = urlsplit(target)
    except ValueError:
        return "", target
    if not url.scheme:
        return "", target
    return url.netloc, url.path or target
