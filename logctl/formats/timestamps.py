"""Timestamp parsing for log lines: pure, cached per minute so the hot path never builds
a datetime per line."""

import calendar
import re
from datetime import datetime
from functools import lru_cache

MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}
_MONTHS_LOWER = {m.lower(): i for m, i in MONTHS.items()}
_CLF = re.compile(
    r"(\d{1,2})/(\w{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*([+-]\d{4}|Z)?$"
)
# Years a log line may carry: before the epoch or past four digits, a stamp is malformed.
MIN_YEAR = 1970
_EPOCH = re.compile(r"^\d{9,19}(?:\.\d+)?$")


@lru_cache(maxsize=65536)
def minute_epoch(year: int, month: int, day: int, hour: int, minute: int, offset_min: int) -> int:
    """Epoch seconds of a wall-clock minute at a UTC offset; cached because logs repeat it."""
    return calendar.timegm((year, month, day, hour, minute, 0, 0, 0, 0)) - offset_min * 60


def tz_minutes(tz: str | None) -> int:
    """Minutes east of UTC for '+0200', '-0530', 'Z' or None (UTC)."""
    if not tz or tz == "Z":
        return 0
    sign = -1 if tz[0] == "-" else 1
    return sign * (int(tz[1:3]) * 60 + int(tz[3:5]))


@lru_cache(maxsize=65536)
def clf_minute(text: str) -> int | None:
    """Epoch seconds of the minute in a CLF stamp prefix 'dd/Mon/yyyy:HH:MM' + '|' + tz."""
    stamp, _, tz = text.partition("|")
    try:
        day, mon, rest = stamp.split("/")
        year, hour, minute = rest.split(":")
        month = _MONTHS_LOWER[mon.lower()]
        offset = tz_minutes(tz)
        if not (1 <= int(day) <= 31 and int(hour) < 24 and int(minute) < 60
                and len(year) == 4 and int(year) >= MIN_YEAR):
            return None
        return minute_epoch(int(year), month, int(day), int(hour), int(minute), offset)
    except (ValueError, KeyError, IndexError):
        return None


def parse_clf(stamp: str, tz: str | None) -> float | None:
    """'17/May/2015:10:05:03' and '+0000' to epoch seconds (None when not a valid stamp)."""
    if len(stamp) < 20 or stamp[-3] != ":":
        return None
    base = clf_minute(f"{stamp[:-3]}|{tz or ''}")
    sec = stamp[-2:]
    if base is None or not sec.isdigit() or int(sec) > 60:
        return None
    return base + int(sec)


def parse_iso(text: str) -> float | None:
    """ISO 8601 / RFC 3339 to epoch seconds; naive times are taken as UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        return None
    if value.year < MIN_YEAR:
        return None
    if value.tzinfo is None:
        return calendar.timegm(value.timetuple()) + value.microsecond / 1e6
    return value.timestamp()


def parse_epoch(value: float) -> float | None:
    """Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude."""
    if value <= 0:
        return None
    for scale in (1, 1e3, 1e6, 1e9):
        if value / scale < 1e11:
            return value / scale
    return None


def parse_any(value: object) -> float | None:
    """Best-effort timestamp from a structured log field: number, ISO, CLF or epoch text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return parse_epoch(float(value))
    if not isinstance(value, str) or not value:
        return None
    if _EPOCH.match(value):
        return parse_epoch(float(value))
    if value[0].isdigit() and "/" in value[:6]:
        match = _CLF.match(value.strip("[]"))
        if match:
            d, mon, y, hh, mm, ss, frac, tz = match.groups()
            base = clf_minute(f"{d}/{mon}/{y}:{hh}:{mm}|{tz or ''}")
            if base is None:
                return None
            return base + int(ss) + (float(f"0.{frac}") if frac else 0.0)
        return None
    return parse_iso(value)
