"""Time windows for queries: durations ('15m', '7d'), moments ('1h' ago or ISO times) and
bucket steps. Pure: `now` always comes in as an argument."""

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from logctl.errors import UsageError
from logctl.formats.timestamps import parse_iso

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CLOCK = [f"{hour:02d}:{minute:02d}:" for hour in range(24) for minute in range(60)]
SECONDS = [f"{second:02d}Z" for second in range(60)]
DAYS = ((datetime.min.replace(tzinfo=UTC) - EPOCH).days,  # the days datetime can write
        (datetime.max.replace(tzinfo=UTC) - EPOCH).days)


def parse_duration(text: str) -> float:
    """'90s', '15m', '1h', '7d', '2w' to seconds."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise UsageError(f"bad duration {text!r}: use a number and a unit s, m, h, d or w (15m)")
    return float(match[1]) * UNITS[match[2]]


def parse_moment(text: str, now: float) -> float:
    """A duration before `now` ('1h'), 'now', or an ISO time ('2026-01-01T00:00', UTC if
    no offset) to epoch seconds."""
    text = text.strip()
    if text.lower() == "now":
        return now
    if _DURATION.match(text.lower()):
        return now - parse_duration(text)
    moment = parse_iso(text)
    if moment is None:
        raise UsageError(
            f"bad time {text!r}: use a duration ago (15m, 1h, 7d) or an ISO time (2026-01-01T10:00)"
        )
    return moment


def parse_step(text: str) -> int:
    """A bucket step ('1m', '5m', '1h', '1d') in whole minutes (the storage resolution)."""
    seconds = parse_duration(text)
    if seconds < 60 or seconds % 60:
        raise UsageError(f"bad step {text!r}: steps are whole minutes (1m, 5m, 1h, 1d)")
    return int(seconds // 60)


def iso(epoch: float) -> str:
    """Epoch seconds as ISO 8601 UTC with a Z. A whole second (every bucket, most log
    times) is written from its day's cached date and clock arithmetic: a one-minute
    series formats three times a bucket, and datetime's strftime was most of it."""
    if (isinstance(epoch, int) or epoch.is_integer()) and DAYS[0] <= epoch // 86400 <= DAYS[1]:
        day, second = divmod(int(epoch), 86400)
        minute, second = divmod(second, 60)
        return _day(day) + CLOCK[minute] + SECONDS[second]
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=4096)
def _day(day: int) -> str:
    """The date of a day since the epoch, as ISO 8601 writes it before the clock."""
    return (EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
