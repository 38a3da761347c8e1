"""Dense histogram packing: exact round trips and sums, whatever the bins."""

from hypothesis import given, settings
from hypothesis import strategies as st

from logctl.metrics import dense, sketch

bins = st.one_of(st.integers(dense.LOW - 3, dense.LOW + 40), st.integers(dense.HIGH - 3,
                 dense.HIGH + 3), st.just(sketch.ZERO_BIN), st.integers(-(2**31), 2**31 - 1))
hists = st.dictionaries(bins, st.integers(1, 2**40), max_size=12)


@settings(max_examples=300, deadline=None)
@given(hist=hists)
def test_round_trip(hist: sketch.Histogram) -> None:
    assert dense.decode(dense.encode(hist)) == hist


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(hists, max_size=8))
def test_sum_equals_merging_each(parts: list[sketch.Histogram]) -> None:
    total = dense.DenseSum()
    expected: sketch.Histogram = {}
    for hist in parts:
        total.add(dense.encode(hist))
        sketch.merge_into(expected, hist)
    assert total.histogram() == expected
    assert dense.decode(total.packed()) == expected


def test_layout_and_counts_past_int32() -> None:
    blob = dense.encode({0: 1, 2: 2**40, sketch.ZERO_BIN: 3})
    assert len(blob) == 16 + 3 * 8 + 16
    total = dense.DenseSum()
    for _ in range(4):
        total.add(blob)
    assert total.histogram() == {0: 4, 2: 2**42, sketch.ZERO_BIN: 12}
    assert dense.encode({}) == bytes(16)
