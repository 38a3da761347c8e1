"""Amazon S3 server access logs:

    owner bucket [time] remote_ip requester request_id operation key "request_uri"
      status error_code bytes_sent object_size total_time turnaround_time "referer"
      "user_agent" version_id ...

The response time is Total Time (ms, `-` when S3 could not say); bytes are those sent
(`-`: none); the host is the bucket, the route the request URI's path."""

import re

from logctl.formats.access import MAX_SIZE_DIGITS, PatternParser, count
from logctl.formats.record import Record
from logctl.formats.timestamps import parse_clf

LINE = re.compile(
    rb"^\S+ (?P<bucket>\S+) \[(?P<ts>\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2}) (?P<tz>[+-]\d{4})\] "
    rb"(?P<client>\S+) \S+ \S+ (?P<operation>[A-Z]+\.[A-Z_.]+) \S+ "
    rb"\"(?P<request>(?:[^\"\\]|\\.)*)\" (?P<status>\d{3}|-) \S+ (?P<sent>\d{1,%d}|-) "
    rb"(?:\d{1,%d}|-) (?P<total>\d{1,12}|-) (?:\d{1,12}|-) \"(?:[^\"\\]|\\.)*\" "
    rb"\"(?:[^\"\\]|\\.)*\"(?: .*)?$" % (MAX_SIZE_DIGITS, MAX_SIZE_DIGITS)
)


class S3Parser(PatternParser):
    """Parses one S3 server access log line."""

    LINE = LINE

    def stamp(self, match: re.Match[bytes]) -> float | None:
        return parse_clf(match["ts"].decode("ascii"), match["tz"].decode("ascii"))

    def record(self, match: re.Match[bytes], ts: float, method: str, path: str) -> Record:
        total = match["total"]
        return Record(
            ts=ts, method=method, path=path, status=count(match["status"]),
            bytes=count(match["sent"]), rt_ms=None if total == b"-" else float(total),
            host=match["bucket"].decode("utf-8", "replace"),
            client=match["client"].decode("utf-8", "replace"),
        )
