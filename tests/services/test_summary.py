"""The JSON contract's fields for one point, written in C (`_sketch.summary`) for points
whose histogram is packed dense: the same dict, key for key and bit for bit, as the Python
that defines them, whatever the counters, times and histogram."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from logctl.errors import StoreError
from logctl.metrics import dense, sketch
from logctl.metrics.points import Point, dense_point
from logctl.services import analytics
from logctl.services.analytics import summarize, summarize_python

pytestmark = pytest.mark.skipif(analytics._SUMMARY is None, reason="C was not built")
bins = st.one_of(st.integers(dense.LOW - 3, dense.LOW + 600), st.just(sketch.ZERO_BIN),
                 st.integers(dense.HIGH - 2, dense.HIGH + 3))
hists = st.dictionaries(bins, st.integers(1, 2**40), max_size=12)
# Decimals with four places: halfway between two of three places, the ties rounding decides.
ties = st.integers(0, 10**9).map(lambda n: n / 10**4)
floats = st.one_of(ties, st.floats(0, 1e12), st.sampled_from([0.0, 2.675, 1e16, 2.0**53]))
# Times a datetime can write (year 1 to 9999), whole and not.
times = st.one_of(st.integers(0, 253402300799).map(float),
                  st.floats(-62135596800, 253402300799),
                  st.sampled_from([0.0, 1748736000.0, 1748736000.5, 253402300799.0, -1.0]))


def point(counts: tuple, sums: tuple, first_last: tuple, hist: dict) -> Point:
    count, errors, client_errors, size, latency_count = counts
    latency_sum, latency_max = sums
    return dense_point((count, errors, client_errors, size, latency_count, latency_sum,
                        latency_max, *first_last), dense.encode(hist) if hist else None)


@settings(max_examples=500, deadline=None)
@given(counts=st.tuples(*[st.integers(0, 2**40)] * 5), sums=st.tuples(floats, floats),
       first_last=st.tuples(times, times), hist=hists, malformed=st.integers(0, 9),
       t=st.one_of(st.none(), st.integers(0, 253402300799)))
@example(counts=(3, 1, 0, 10, 3), sums=(0.0015, 2.675), first_last=(1748736000.0, 1.5),
         hist={}, malformed=0, t=1748736060)
def test_the_c_summary_is_the_python_one(counts: tuple, sums: tuple, first_last: tuple,
                                        hist: dict, malformed: int, t: int | None) -> None:
    made = point(counts, sums, first_last, hist)
    expected = summarize_python(made, malformed, t)
    found = summarize(made, malformed, t)
    assert found == expected
    assert list(found) == list(expected)  # the keys in the contract's order
    assert repr(found) == repr(expected)  # floats to the bit, -0.0 included


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(ties, st.floats(-1e15, 1e15), st.floats(allow_nan=False)),
       errors=st.integers(0, 2**60), more=st.integers(1, 2**60))
def test_rounding_in_c_is_pythons(value: float, errors: int, more: int) -> None:
    """A point whose maximum is `value` (3 places), and one whose error rate is a ratio
    of integers up to past 2**53 (6 places)."""
    made = dense_point((1, 0, 0, 0, 1, 0.0, value, 0.0, 0.0), None)
    assert repr(summarize(made, 0)["latency_ms"]["max"]) == repr(round(value, 3))
    rate = dense_point((errors + more, errors, 0, 0, 0, 0.0, 0.0, 0.0, 0.0), None)
    assert repr(summarize(rate, 0)["error_rate"]) == repr(round(errors / (errors + more), 6))


def test_a_point_not_packed_dense_is_summarized_in_python() -> None:
    made = Point()
    made.count = made.latency_count = 2
    made.latency_sum, made.latency_max = 3.0, 2.0
    made.first, made.last = 1748736000.0, 1748736001.0
    made.hist = {sketch.bin_index(1.0): 1, sketch.bin_index(2.0): 1}
    assert analytics._SUMMARY(made, 0, None) is NotImplemented
    assert summarize(made, 0, 1748736000) == {
        "t": "2025-06-01T00:00:00Z", "requests": 2, "errors": 0, "client_errors": 0,
        "error_rate": 0.0, "bytes": 0, "malformed": 0,
        "latency_ms": {"p50": 0.992, "p90": 2.0, "p95": 2.0, "p99": 2.0, "max": 2.0,
                       "mean": 1.5},
        "first": "2025-06-01T00:00:00Z", "last": "2025-06-01T00:00:01Z"}


def test_a_corrupt_histogram_is_a_store_error() -> None:
    broken = dense_point((1, 0, 0, 0, 1, 1.0, 1.0, 0.0, 0.0), b"\xff")
    with pytest.raises(StoreError, match="corrupted latency histogram"):
        summarize(broken, 0)
