"""Time windows for queries: durations ('15m', '7d'), moments ('1h' ago or ISO times) and
bucket steps. Pure: `now` always comes in as an argument."""

import re
from datetime import UTC, datetime

from logctl.errors import UsageError
from logctl.formats.timestamps import parse_iso

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")


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
    """Epoch seconds as ISO 8601 UTC with a Z."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
