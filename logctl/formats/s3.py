"""Amazon S3 server access logs:

    owner bucket [time] remote_ip requester request_id operation key "request_uri"
      status error_code bytes_sent object_size total_time turnaround_time "referer"
      "user_agent" version_id ...

The response time is Total Time (ms, `-` when S3 could not say); bytes are those sent
(`-`: none); the host is the bucket, the route the request URI's path."""

import re
from dataclasses import dataclass

from logctl.formats.combined import MAX_SIZE_DIGITS, split_request
from logctl.formats.record import Record
from logctl.formats.timestamps import parse_clf

LINE = re.compile(
    rb"^\S+ (?P<bucket>\S+) \[(?P<ts>\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2}) (?P<tz>[+-]\d{4})\] "
    rb"(?P<client>\S+) \S+ \S+ (?P<operation>[A-Z]+\.[A-Z_.]+) \S+ "
    rb"\"(?P<request>(?:[^\"\\]|\\.)*)\" (?P<status>\d{3}|-) \S+ (?P<sent>\d{1,%d}|-) "
    rb"(?:\d{1,%d}|-) (?P<total>\d{1,12}|-) (?:\d{1,12}|-) \"(?:[^\"\\]|\\.)*\" "
    rb"\"(?:[^\"\\]|\\.)*\"(?: .*)?$" % (MAX_SIZE_DIGITS, MAX_SIZE_DIGITS)
)


@dataclass(frozen=True)
class S3Parser:
    """Parses one S3 server access log line."""

    def __call__(self, line: bytes) -> Record | None:
        match = LINE.match(line)
        if match is None:
            return None
        bucket, stamp, tz, client, _, request, status, sent, total = match.groups()
        ts = parse_clf(stamp.decode("ascii"), tz.decode("ascii"))
        if ts is None:
            return None
        method, path = split_request(request)
        return Record(
            ts=ts, method=method, path=path, status=0 if status == b"-" else int(status),
            bytes=0 if sent == b"-" else int(sent),
            rt_ms=None if total == b"-" else float(total),
            host=bucket.decode("utf-8", "replace"), client=client.decode("utf-8", "replace"),
        )
