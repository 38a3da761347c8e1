"""Point blocks: every value reads back to the bit, C and Python write the same bytes, a
minute's rows of one series merge, and a broken blob is refused."""

import math
import struct
from array import array
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logctl.errors import StoreError
from logctl.metrics import dense, sketch
from logctl.store import block_points, blocks

M = 1748736000  # a minute


@contextmanager
def in_python() -> Iterator[None]:
    """The pure-Python codec and sums, as without a C compiler."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(blocks, "_blocks", None)
        patch.setattr(sketch, "_sketch", None)
        patch.setattr(dense, "_sketch", None)
        yield


def compact(pairs: dict[int, int]) -> bytes | None:
    return sketch.compact(array("i", [v for bin in sorted(pairs) for v in (bin, pairs[bin])]
                                ).tobytes())


def row(series: int, minute: int = M, count: int = 1, hist: bytes | None = None,
        lat: tuple[float, float] = (7.0, 7.0), times: tuple[float, float] = (M + 5.0, M + 9.0),
        errors: int = 0) -> tuple:
    return (series, minute, count, errors, 0, 100 * count, count, *lat, hist, *times)


floats = st.one_of(st.floats(allow_nan=False), st.integers(0, 2**60).map(float),
                   st.sampled_from([-0.0, 0.0, 2.0**53, 2.0**53 - 1, math.inf, -math.inf]))
histograms = st.one_of(st.none(), st.dictionaries(st.integers(-2**31, 2**31 - 1),
                                                  st.integers(1, 1000), min_size=1,
                                                  max_size=8).map(compact))
rows = st.builds(
    lambda series, minute, counts, lat, hist, first, last: (
        series, M + 60 * minute, *counts, *lat, hist, M + 60 * minute + first, last),
    st.integers(1, 40), st.integers(-2, 3), st.tuples(*[st.integers(0, 2**40)] * 5),
    st.tuples(floats, floats), histograms, st.one_of(st.integers(0, 59).map(float), floats),
    floats)


def same(a: object, b: object) -> bool:
    """Equal to the bit (so -0.0 is not 0.0, and inf is inf)."""
    return repr(a) == repr(b)


@settings(max_examples=300, deadline=None)
@given(st.lists(rows, max_size=30, unique_by=lambda r: (r[0], r[1])))
def test_every_value_reads_back_to_the_bit(given_rows: list[tuple]) -> None:
    packed = blocks.encode(given_rows)
    decoded = blocks.decode((block[0], block[6]) for block in packed)
    assert same(decoded, sorted(given_rows, key=lambda r: (r[1], r[0])))
    with in_python():
        assert blocks.encode(given_rows) == packed
        assert same(blocks.decode((block[0], block[6]) for block in packed), decoded)


def test_a_block_a_minute_with_its_columns() -> None:
    hist = compact({500: 1})
    packed = blocks.encode([row(3, M + 60, 2, hist, errors=1), row(2),
                            row(1, times=(M + 1.5, M + 2)),
                            row(9, M + 60, 4, times=(M + 61.0, M + 119.0))])
    assert [block[:6] for block in packed] == [
        (M, 2, 2, 0, M + 1.5, M + 9.0), (M + 60, 2, 6, 1, M + 5.0, M + 119.0)]
    assert [blocks.size(block[6]) for block in packed] == [2, 2]
    # Whole values are varints (first/last as seconds into the minute), 1.5 is 8 bytes.
    # No errors and a latency count equal to the count are flagged (32, 64), not written.
    assert packed[0][6] == bytes([1, 2, 2, 4 | 32 | 64, 2, 200, 1, 7, 7]) + struct.pack(
        "<d", M + 1.5) + bytes([2, 2, 32 | 64, 2, 200, 1, 7, 7, 5, 9])
    # A histogram: its pairs, the first bin zigzagged, then steps from the bin before.
    (block,) = blocks.encode([row(1, hist=compact({-3: 2, 300: 1, 302: 5}))])
    assert block[6].endswith(bytes([3, 5, 2, 175, 2, 1, 2, 5]))


def test_rows_of_one_series_and_minute_merge_in_their_order() -> None:
    first, second = compact({10: 1, 500: 2}), compact({10: 3, 20: 1})
    (block,) = blocks.encode([row(4, count=1, hist=first, lat=(0.5, 0.5), times=(M + 50, M + 50)),
                              row(4, count=2, hist=second, lat=(3.25, 3.0),
                                  times=(M + 1, M + 2))])
    (point,) = blocks.decode([(M, block[6])])
    assert point == (4, M, 3, 0, 0, 300, 3, 3.75, 3.0, compact({10: 4, 20: 1, 500: 2}),
                     M + 1.0, M + 50.0)
    with in_python():
        assert blocks.encode([row(4, hist=first, lat=(0.5, 0.5)), row(4, count=2, hist=second,
                              lat=(3.25, 3.0))]) == blocks.encode(
            [row(4, hist=first, lat=(0.5, 0.5)), row(4, count=2, hist=second, lat=(3.25, 3.0))])


def test_two_blocks_of_a_minute_merge_as_their_rows_would() -> None:
    a = [row(1, hist=compact({5: 1})), row(3)]
    b = [row(2, count=5), row(3, count=2, hist=compact({5: 2}), times=(M, M + 59.5))]
    (left,), (right,) = blocks.encode(a), blocks.encode(b)
    (together,) = blocks.encode(a + b)
    assert blocks.merge(M, left[6], right[6]) == together[6]
    with in_python():
        assert blocks.merge(M, left[6], right[6]) == together[6]
    assert blocks.size(together[6]) == 3
    assert blocks.merge(M, bytes([1, 0]), bytes([1, 0])) == bytes([1, 0])


@pytest.mark.parametrize("broken, why", [
    (b"", "not a point block of this version"),
    (bytes([2, 0]), "not a point block of this version"),
    (bytes([1, 5, 0]), "its count of points is out of range"),
    (bytes([1, 1, 2]), "it ends inside a point"),
    (bytes([1, 1, 2, 0, 2]), "it ends inside a number"),
    (bytes([1, 1, 2, 1, 2, 0, 0, 0, 2, 7, 7, 0]), "it ends inside a number"),
    (bytes([1, 1, 2, 16, 2, 0, 0, 0, 2, 7, 7, 0, 0, 9, 1]), "a histogram runs past its end"),
    (bytes([1, 1, 2, 16, 2, 0, 0, 0, 2, 7, 7, 0, 0, 2, 4, 1, 0, 1]),
     "a histogram's bin or count is out of range"),
    (bytes([1, 1, 2, 0, 2, 0, 0, 0, 2, 7, 7, 0, 0, 0]), "bytes are left after its points"),
])
def test_a_broken_block_is_refused_in_words(broken: bytes, why: str) -> None:
    with pytest.raises(StoreError, match=f"corrupted point block: {why}"):
        blocks.decode([(M, broken)])
    with in_python(), pytest.raises(StoreError, match=f"corrupted point block: {why}"):
        blocks.decode([(M, broken)])


def test_sums_per_key_and_bucket_are_alike_in_c_and_python() -> None:
    points = [row(1, M, 2, compact({100: 2})), row(2, M + 60, 1, compact({120: 1})),
              row(3, M + 120, 4), row(1, M + 180, 1, compact({100: 1}), lat=(9.0, 9.0)),
              row(4, M, 7)]
    keys = {1: 0, 2: 0, 3: 1}  # series 4 is not asked for
    native = sorted(block_points.sums(points, keys, 120))
    with in_python():
        assert sorted(block_points.sums(points, keys, 120)) == native
    assert [(bucket, key, count) for bucket, key, count, *_ in native] == [
        (M, 0, 3), (M + 120, 0, 1), (M + 120, 1, 4)]
    assert dense.decode(native[0][9]) == {100: 2, 120: 1}
    assert [r[:3] for r in sorted(block_points.sums(points, keys, 0))] == [(0, 0, 4), (0, 1, 4)]


@settings(max_examples=200, deadline=None)
@given(given_rows=st.lists(rows, max_size=40), step=st.sampled_from([0, 60, 120, 300]),
       asked=st.sets(st.integers(1, 40)), keys=st.integers(1, 4))
def test_blocks_summed_as_decoded_equal_the_sums_of_their_rows(
        given_rows: list[tuple], step: int, asked: set[int], keys: int) -> None:
    """`blocks.sums` (no row made for a point) gives what decoding the blocks and summing
    the rows gives, histograms summed by dense.pack_concat, floats to the bit."""
    packed = [(minute, blob) for minute, *_, blob in blocks.encode(given_rows)]
    wanted = {series: series % keys for series in asked}
    expected = sorted(block_points.sums(blocks.decode(packed), wanted, step))
    found = sorted((*row[:9], dense.pack_concat(row[9]), *row[10:])
                   for row in blocks.sums(packed, wanted, step))
    assert same(found, expected)


def test_summing_a_broken_block_is_refused_in_words() -> None:
    with pytest.raises(StoreError, match="corrupted point block: it ends inside a point"):
        blocks.sums([(M, bytes([1, 1, 2]))], {1: 0}, 60)
