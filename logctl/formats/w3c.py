"""The W3C extended log format, as Amazon CloudFront (standard logs) and Microsoft IIS
write it: `#` directives, and data lines whose fields the last `#Fields:` line names (it
may change mid-file, when IIS's logging is reconfigured). CloudFront separates fields by
tabs, IIS by spaces (spaces inside a field written as `+`).

    #Version: 1.0
    #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip ...
    2019-06-10 00:00:01 10.0.0.4 GET /default.htm - 80 - 203.0.113.5 ... 200 0 0 15

`time-taken` is seconds in CloudFront's logs (they carry `x-edge-*` fields) and
milliseconds in IIS's. The host is `cs(Host)` (or CloudFront's `x-host-header`, IIS's
`s-sitename`); bytes are `sc-bytes`. The parser keeps the field list it last read, so one
parser reads one stream of lines in order: processing builds a fresh one per chunk,
starting from the `#Fields:` line before the chunk that ingest sends with it."""

import calendar
import re

from logctl.formats.record import SKIP, Record

FIELDS_DIRECTIVE = b"#Fields:"
DATE = re.compile(rb"^(\d{4})-(\d{2})-(\d{2})$")
TIME = re.compile(rb"^(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?$")
HOSTS = ("cs(host)", "x-host-header", "s-sitename", "cs-host")


def last_fields(data: bytes) -> bytes | None:
    """The last `#Fields:` line in a chunk (without its line end), None when none."""
    at = data.rfind(b"\n" + FIELDS_DIRECTIVE)
    if at < 0:
        if not data.startswith(FIELDS_DIRECTIVE):
            return None
        at = 0
    else:
        at += 1
    end = data.find(b"\n", at)
    return data[at:end if end >= 0 else len(data)].rstrip(b"\r")


class W3cParser:
    """Parses W3C extended log lines in order: directives give SKIP (neither a request
    nor malformed), a data line before any `#Fields:` is malformed."""

    def __init__(self, header: bytes | str | None = None) -> None:
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.seconds = False
        if header:
            self.read_fields(header.encode() if isinstance(header, str) else header)

    def read_fields(self, line: bytes) -> None:
        """Take the field names of a `#Fields:` line."""
        self.names = line[len(FIELDS_DIRECTIVE):].decode("ascii", "replace").lower().split()
        self.index = {name: i for i, name in enumerate(self.names)}
        self.seconds = any(name.startswith("x-edge-") for name in self.names)

    def __call__(self, line: bytes) -> Record | None:
        if line.startswith(b"#"):
            if line.startswith(FIELDS_DIRECTIVE):
                self.read_fields(line.rstrip(b"\r"))
            return SKIP
        if not self.names:
            return None
        values = line.rstrip(b"\r").split(b"\t" if b"\t" in line else b" ")
        if len(values) != len(self.names):
            return None
        return self.record(values)

    def get(self, values: list[bytes], name: str) -> bytes | None:
        at = self.index.get(name)
        if at is None:
            return None
        value = values[at]
        return None if value == b"-" else value

    def record(self, values: list[bytes]) -> Record | None:
        ts = self.stamp(self.get(values, "date"), self.get(values, "time"))
        status = self.get(values, "sc-status")
        method = self.get(values, "cs-method")
        path = self.get(values, "cs-uri-stem")
        if ts is None or status is None or not status.isdigit() or method is None or \
                path is None:
            return None
        size = self.get(values, "sc-bytes")
        taken = self.get(values, "time-taken")
        try:
            rt_ms = None if taken is None else float(taken) * (1000.0 if self.seconds else 1.0)
        except ValueError:
            return None
        host = next((h for h in (self.get(values, name) for name in HOSTS) if h), b"")
        return Record(ts=ts, method=method.decode("ascii", "replace"),
                      path=path.decode("utf-8", "replace"), status=int(status),
                      bytes=int(size) if size is not None and size.isdigit() else 0,
                      rt_ms=rt_ms, host=host.decode("utf-8", "replace"),
                      client=(self.get(values, "c-ip") or b"").decode("ascii", "replace"))

    @staticmethod
    def stamp(date: bytes | None, clock: bytes | None) -> float | None:
        """`date` and `time` (UTC, as both servers write them) as epoch seconds."""
        day = DATE.match(date or b"")
        hms = TIME.match(clock or b"")
        if day is None or hms is None:
            return None
        year, month, mday = int(day[1]), int(day[2]), int(day[3])
        hour, minute, second = int(hms[1]), int(hms[2]), int(hms[3])
        if not (1 <= month <= 12 and 1 <= mday <= calendar.monthrange(year, month)[1]
                and hour <= 23 and minute <= 59 and second <= 60):
            return None
        return float(calendar.timegm((year, month, mday, hour, minute, second, 0, 0, 0)))
