"""Time windows: ISO times written as datetime writes them, whatever the epoch."""

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logctl.metrics.window import iso


def by_datetime(epoch: float) -> str | type:
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError) as error:
        return type(error)


def by_iso(epoch: float) -> str | type:
    try:
        return iso(epoch)
    except (ValueError, OverflowError, OSError) as error:
        return type(error)


@settings(max_examples=500, deadline=None)
@given(epoch=st.one_of(st.integers(-63_000_000_000, 254_000_000_000),
                       st.integers(-63_000_000_000, 254_000_000_000).map(float),
                       st.floats(allow_nan=False, allow_infinity=False)))
def test_iso_writes_what_datetime_writes(epoch: float) -> None:
    assert by_iso(epoch) == by_datetime(epoch)


@pytest.mark.parametrize("epoch, text", [
    (0, "1970-01-01T00:00:00Z"),
    (-1, "1969-12-31T23:59:59Z"),
    (1748736059, "2025-06-01T00:00:59Z"),
    (1748736059.9999996, "2025-06-01T00:01:00Z"),  # datetime rounds to the microsecond
    (253402300799, "9999-12-31T23:59:59Z"),
])
def test_iso_of_edges(epoch: float, text: str) -> None:
    assert iso(epoch) == text
