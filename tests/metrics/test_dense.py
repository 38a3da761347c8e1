"""Dense histogram packing: exact round trips and sums, whatever the bins."""

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logctl.errors import StoreError
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
    """Varints: the lowest bin's distance from LOW, the fields, a count a bin (an empty
    one inside as 0 and the empty bins after it: 0 more), then the zero bin as a zigzag
    (bin, count) pair."""
    blob = dense.encode({dense.LOW + 1: 1, dense.LOW + 3: 2**40, sketch.ZERO_BIN: 3})
    assert blob == (bytes([1, 3, 1, 0, 0]) + b"\x80\x80\x80\x80\x80\x20"
                    + b"\xff\xff\xff\xff\x0f" + bytes([3]))
    total = dense.DenseSum()
    for _ in range(4):
        total.add(blob)
    assert total.histogram() == {dense.LOW + 1: 4, dense.LOW + 3: 2**42, sketch.ZERO_BIN: 12}
    assert dense.encode({}) == bytes(2)


def test_a_rollup_of_small_counts_takes_a_byte_a_bin() -> None:
    hist = {dense.LOW + 400 + i: 1 + i % 100 for i in range(150)}
    assert len(dense.encode(hist)) == 2 + 2 + 150  # offset 400 and 150 fields: two bytes each


def test_a_run_of_empty_bins_takes_two_bytes() -> None:
    hist = {dense.LOW + 10: 1, dense.LOW + 100: 2, dense.LOW + 101: 1, dense.LOW + 300: 5}
    blob = dense.encode(hist)
    assert blob == bytes([10, 0xA3, 0x02, 1, 0, 88, 2, 1, 0, 197, 1, 5])  # 291 fields
    assert dense.decode(blob) == hist
    with pytest.MonkeyPatch.context() as python_only:
        python_only.setattr(dense, "_sketch", None)
        assert dense.encode(hist) == blob and dense.decode(blob) == hist


narrow_hists = st.dictionaries(bins, st.integers(1, 2**31 - 1), max_size=12)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(narrow_hists, max_size=8))
def test_packing_concatenated_histograms_sums_them(parts: list[sketch.Histogram]) -> None:
    """The native pass and the pure-Python fallback give the same bytes: the merge of the
    parts (compact, as SQLite stores points), packed dense, with int64 counts past what one
    part can hold."""
    packed = b"".join(sketch.compact(sketch.encode(hist)) or b"" for hist in parts)
    expected: sketch.Histogram = {}
    for hist in parts:
        sketch.merge_into(expected, hist)
    native = dense.pack_concat(packed)
    assert native == dense.encode(expected)
    with pytest.MonkeyPatch.context() as python_only:
        python_only.setattr(dense, "_sketch", None)
        python_only.setattr(sketch, "_sketch", None)
        assert dense.pack_concat(packed) == native


def test_packing_nothing_is_the_empty_histogram() -> None:
    assert dense.pack_concat(None) == dense.pack_concat(b"") == bytes(2)
    with pytest.raises(StoreError, match="ends inside a number"):
        dense.pack_concat(b"\x01\x02\x03")


def test_sqlite_group_concat_hands_over_the_blobs_byte_for_byte() -> None:
    """What pack_concat's joined input may come from: SQL's group_concat of blobs with an
    empty separator is their bytes joined, NUL and invalid UTF-8 bytes included."""
    conn = sqlite3.connect(":memory:")
    blobs = [sketch.encode({0: 1, 255: 2}), b"", sketch.encode({-7: 2**31 - 1}), b"\xff\x00" * 4]
    conn.execute("CREATE TABLE t (hist BLOB)")
    conn.executemany("INSERT INTO t VALUES (?)", [(blob,) for blob in blobs] + [(None,)])
    joined = conn.execute("SELECT CAST(group_concat(hist, '') AS BLOB) FROM t").fetchone()[0]
    assert joined == b"".join(blobs)


native = pytest.mark.skipif(dense.native_sum() is None, reason="built without a C compiler")


def native_total(blobs: list[bytes | None]) -> bytes | None:
    total = dense.native_sum()(dense.LOW, dense.HIGH)  # type: ignore[misc]
    for blob in blobs:
        total.step(blob)
    return total.finalize()


@native
@settings(max_examples=300, deadline=None)
@given(parts=st.lists(hists, max_size=8))
def test_the_native_sum_equals_the_python_one(parts: list[sketch.Histogram]) -> None:
    blobs = [dense.encode(hist) for hist in parts]
    python = dense.DenseSum()
    for blob in blobs:
        python.add(blob)
    summed = native_total(blobs)
    if not blobs:
        assert summed is None
    elif len(blobs) == 1:
        assert summed is blobs[0]  # a group of one is handed back untouched
    else:
        assert summed is not None
        assert dense.decode(summed) == python.histogram()


@native
@pytest.mark.parametrize("blob, why", [
    (b"\x01", "shorter than its header"),
    (dense.encode({dense.LOW: 1, dense.LOW + 1: 1})[:-1], "ends inside a number"),
    (bytes([0, 3, 1, 0, 2, 1]), "does not match its length"),
    (bytes([0, 3, 1, 0]), "ends inside a number"),
    (bytes([0, 1]) + b"\x80", "ends inside a number"),
    (bytes([0, 1]) + b"\xff" * 9 + b"\x01", "out of range"),
    (bytes([0, 0, 1, 0]), "a count is below 1"),
    (bytes([0, 0, 1, 1, 3, 1]), "not ascending or not outlying"),
    (bytes([0, 0, 2, 1]), "not ascending or not outlying"),
])
def test_the_native_sum_refuses_corrupt_blobs(blob: bytes, why: str) -> None:
    good = dense.encode({dense.LOW + 1: 2})
    with pytest.raises(ValueError, match=why):
        native_total([good, blob])
    with pytest.raises(StoreError, match=why):
        dense.DenseSum().add(blob)


@native
def test_sqlite_reads_rollups_through_the_native_sum() -> None:
    from logctl.store.sqlite import HIST_SUM
    conn = sqlite3.connect(":memory:")
    conn.create_aggregate("hist_sum_agg", 1, HIST_SUM)
    conn.execute("CREATE TABLE h (g INTEGER, hist BLOB)")
    parts = [{dense.LOW + 5: 3, sketch.ZERO_BIN: 1}, {dense.LOW + 2: 4}, {dense.LOW + 5: 1}]
    conn.executemany("INSERT INTO h VALUES (1, ?)", [(dense.encode(p),) for p in parts])
    conn.execute("INSERT INTO h VALUES (2, ?)", (dense.encode({7: 9}),))
    got = {g: dense.decode(blob) for g, blob in
           conn.execute("SELECT g, hist_sum_agg(hist) FROM h GROUP BY g")}
    assert got == {1: {dense.LOW + 5: 4, dense.LOW + 2: 4, sketch.ZERO_BIN: 1}, 2: {7: 9}}


levels = st.lists(st.one_of(st.sampled_from([0.0, 0.5, 0.9, 0.95, 0.99, 1.0]),
                            st.floats(0, 1)), min_size=1, max_size=5)


@settings(max_examples=300, deadline=None)
@given(hist=hists, qs=levels, maximum=st.one_of(st.none(), st.floats(0, 1e6)))
def test_quantiles_read_in_place_equal_the_dicts(hist: sketch.Histogram, qs: list[float],
                                                 maximum: float | None) -> None:
    blob = dense.encode(hist)
    expected = sketch.quantiles(hist, qs, maximum)
    assert dense.quantiles(blob, qs, maximum) == expected
    with pytest.MonkeyPatch.context() as python_only:
        python_only.setattr(dense, "_sketch", None)
        assert dense.quantiles(blob, qs, maximum) == expected


def test_quantiles_of_a_known_histogram() -> None:
    hist = {sketch.ZERO_BIN: 1, sketch.bin_index(10.0): 2, sketch.bin_index(100.0): 1}
    p25, p50, p99 = dense.quantiles(dense.encode(hist), [0.25, 0.5, 0.99], 95.0)
    assert p25 == 0.0
    assert p50 == sketch.bin_value(sketch.bin_index(10.0)) == pytest.approx(10.0, rel=0.008)
    assert p99 == 95.0  # 100 ms's bin, clamped to the exact maximum
    assert dense.quantiles(None, [0.5]) == [None]
    assert dense.quantiles(dense.encode({}), [0.5]) == [None]


def test_quantiles_past_int64_total_fall_back_to_python_integers() -> None:
    hist = {dense.LOW: 2**62, dense.LOW + 1: 2**62, dense.LOW + 2: 2**62}
    assert dense.quantiles(dense.encode(hist), [0.5]) == [sketch.bin_value(dense.LOW + 1)]


@pytest.mark.parametrize("blob, why", [
    (b"\x01", "shorter than its header"),
    (bytes([0, 0, 1, 0]), "a count is below 1"),
])
def test_quantiles_of_a_corrupt_blob_are_a_store_error(blob: bytes, why: str) -> None:
    with pytest.raises(StoreError, match=why):
        dense.quantiles(blob, [0.5])
