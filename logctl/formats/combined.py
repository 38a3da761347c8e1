"""Apache/nginx access logs: `common`, `combined`, `vhost_combined`, and combined followed by
a response-time field (nginx `$request_time` in seconds, Apache `%D` in microseconds or
`%T` in seconds).

One lenient pattern reads all of them: a `common` line is a combined line without the
referer and user agent; anything after the user agent must be whitespace-separated fields,
the first numeric one being the response time (Traefik's and ingress-nginx's tails are
told apart: see `CombinedParser.tail`). Before the client there may be a vhost, a quoted
X-Forwarded-For, and the client may itself be an X-Forwarded-For list.
"""

import re
from dataclasses import dataclass

from logctl.formats.access import MAX_SIZE_DIGITS, count, split_request
from logctl.formats.record import Record
from logctl.formats.timestamps import parse_clf

RT_UNITS = {"auto": None, "s": 1000.0, "ms": 1.0, "us": 0.001}

LINE = re.compile(
    rb"^(?:(?P<vhost>[^\s\",\[]+) )?(?:\"(?P<xff>[^\"]*)\" )?"
    rb"(?P<client>(?:[^\s\",\[]+, )*[^\s\"\[]+) \S+ (?P<user>\S+|\"[^\"]*\") "
    rb"\[(?P<ts>[^\]\s]+)(?: (?P<tz>[+-]\d{4}))?\] "
    rb"\"(?P<request>(?:[^\"\\]|\\.)*)\" (?P<status>\d{3}) (?P<bytes>\d{1,%d}|-)"
    rb"(?P<agent> \"(?:[^\"\\]|\\.)*\" \"(?:[^\"\\]|\\.)*\")?"
    rb"(?P<extra>(?: +[^\s\"]+| +\"(?:[^\"\\]|\\.)*\")*)\s*$" % MAX_SIZE_DIGITS
)
_RT = re.compile(rb"^\d+(?:\.\d+)?$")
# Known tails after the user agent that carry the time elsewhere than first, and a host:
# Traefik's CLF (requests so far, "router", "service URL", duration in ms) and
# ingress-nginx's default (request length, $request_time, [upstream name], ...).
_TRAEFIK = re.compile(rb'^ +\d+ "(?P<router>[^"]*)" "[^"]*" (?P<ms>\d{1,12})ms\s*$')
_INGRESS = re.compile(rb"^ +\d+ (?P<s>\d{1,12}(?:\.\d{1,9})?) \[(?P<upstream>[^\]]*)\](?: \[|\s)")


@dataclass(frozen=True)
class CombinedParser:
    """Parses one access-log line; `rt_unit` is 'auto', 's', 'ms' or 'us'.

    'auto' reads a value with a decimal point as seconds (nginx) and an integer as
    microseconds (Apache %D, the usual choice); set 's' for Apache %T.
    """

    rt_unit: str = "auto"

    def __call__(self, line: bytes) -> Record | None:
        match = LINE.match(line)
        if match is None:
            return None
        vhost, _, client, _, stamp, tz, request, status, size, _, extra = match.groups()
        ts = parse_clf(stamp.decode("ascii", "replace"), tz and tz.decode("ascii"))
        if ts is None:
            return None
        method, path = split_request(request)
        host = vhost.decode("utf-8", "replace") if vhost else ""
        rt_ms = None
        if extra:
            rt_ms, host = self.tail(extra, host)
        return Record(
            ts=ts,
            method=method,
            path=path,
            status=int(status),
            bytes=count(size),
            rt_ms=rt_ms,
            host=host,
            client=client.decode("utf-8", "replace"),
        )

    def tail(self, extra: bytes, host: str) -> tuple[float | None, str]:
        """The response time (ms) and host from the fields after the user agent: Traefik's
        duration and router, ingress-nginx's $request_time and upstream name, else the
        first number (see `response_time`) and the vhost."""
        if match := _TRAEFIK.match(extra):
            return float(match["ms"]), match["router"].decode("utf-8", "replace") or host
        if match := _INGRESS.match(extra):
            return (float(match["s"]) * 1000.0,
                    match["upstream"].decode("utf-8", "replace") or host)
        return self.response_time(extra), host

    def response_time(self, extra: bytes) -> float | None:
        """The first numeric field after the user agent, converted to milliseconds: the
        response time (Apache %D or %T, nginx $request_time), which comes before any
        upstream times nginx adds ($upstream_response_time may be '-', 'a, b' or 'a : b')."""
        raw = next((field for field in extra.split() if _RT.match(field)), None)
        if raw is None:
            return None
        scale = RT_UNITS[self.rt_unit]
        if scale is None:
            scale = 1000.0 if b"." in raw else 0.001
        return float(raw) * scale


def has_referer_agent(line: bytes) -> bool:
    """True for a combined line (referer + user agent present), False for common."""
    match = LINE.match(line)
    return bool(match and match.group("agent"))
