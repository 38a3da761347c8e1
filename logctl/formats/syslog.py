"""Syslog, RFC 5424 and RFC 3164 (with or without the <PRI>, as in /var/log files, and the
RFC 3339 stamps rsyslog writes by default). Each line is an event: `method` is the
severity keyword, `path` the app name; err/crit/alert/emerg count as errors."""

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from logctl.formats.fields import level_name
from logctl.formats.record import Record
from logctl.formats.timestamps import MONTHS, parse_iso

RFC5424 = re.compile(
    rb"^<(?P<pri>\d{1,3})>\d{1,2} (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) \S+ \S+ "
    rb"(?:-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: |$)"
)
RFC3164 = re.compile(
    rb"^(?:<(?P<pri>\d{1,3})>)?(?:(?P<bsd>[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2})"
    rb"|(?P<iso>\d{4}-\d{2}-\d{2}T\S+)) (?P<host>\S+) (?P<tag>[^\s:\[]+)(?:\[\d+\])?:"
)


@dataclass(frozen=True)
class SyslogParser:
    """Parses RFC 5424 first, then RFC 3164. `now` (epoch seconds) gives the year that BSD
    stamps leave out: the latest year that does not put the line more than a day ahead."""

    now: float

    def __call__(self, line: bytes) -> Record | None:
        match = RFC5424.match(line)
        if match:
            ts = None if match["ts"] == b"-" else parse_iso(match["ts"].decode("ascii", "replace"))
            app = match["app"]
        else:
            match = RFC3164.match(line)
            if match is None:
                return None
            ts = self.bsd_time(match["bsd"]) if match["bsd"] else parse_iso(
                match["iso"].decode("ascii", "replace"))
            app = match["tag"]
        pri = match["pri"]
        if ts is None or (pri is not None and int(pri) > 191):
            return None
        severity = int(pri) % 8 if pri is not None else None
        return Record(
            ts=ts,
            method=level_name(severity) if severity is not None else "-",
            path=app.decode("utf-8", "replace"),
            status=0,
            bytes=0,
            host=match["host"].decode("utf-8", "replace"),
            severity=severity,
        )

    def bsd_time(self, stamp: bytes) -> float | None:
        """'Nov 25 14:47:25' in the year that puts it closest before `now` (+1 day slack)."""
        mon, day, clock = stamp.decode("ascii").split()
        month = MONTHS.get(mon)
        hour, minute, second = (int(x) for x in clock.split(":"))
        if month is None or not 1 <= int(day) <= 31 or hour > 23 or minute > 59 or second > 60:
            return None
        year = time_year(self.now)
        for candidate in (year, year - 1):
            try:
                ts = calendar.timegm((candidate, month, int(day), hour, minute, second, 0, 0, 0))
            except ValueError:
                return None
            if ts <= self.now + 86400:
                return float(ts)
        return None


def time_year(epoch: float) -> int:
    """The UTC year of an epoch time."""
    return datetime.fromtimestamp(epoch, UTC).year


def split_message(line: bytes) -> tuple[str, str, bytes] | None:
    """A syslog line's app name (RFC 5424 APP-NAME, RFC 3164 tag), host and message part,
    None when the line has no syslog header: what a receiver needs to read an access log
    sent through syslog (nginx `access_log syslog:`, HAProxy `log`) by its own format."""
    match = RFC5424.match(line)
    if match is None:
        match = RFC3164.match(line)
        if match is None:
            return None
        app = match["tag"]
    else:
        app = match["app"]
    message = line[match.end():].lstrip(b" ")
    if message.startswith(b"\xef\xbb\xbf"):  # RFC 5424's BOM before a UTF-8 message
        message = message[3:]
    host = match["host"].decode("utf-8", "replace")
    return app.decode("utf-8", "replace"), "" if host == "-" else host, message
