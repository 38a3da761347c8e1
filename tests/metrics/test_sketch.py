"""The latency histogram: quantile error bound and exact merges."""

import math
import random
import re
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logctl.errors import StoreError
from logctl.metrics import dense, sketch
from logctl.store import postgres_rollup

latencies = st.lists(st.floats(min_value=0.0, max_value=1e7, allow_nan=False), max_size=300)


def build(values: list[float]) -> sketch.Histogram:
    hist: sketch.Histogram = {}
    for value in values:
        sketch.add(hist, value)
    return hist


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def test_quantiles_within_one_percent_of_exact() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(3, 1.5) for _ in range(100_000)] + [0.0] * 50
    hist = build(values)
    for q in (0.5, 0.9, 0.95, 0.99, 0.999):
        got = sketch.quantile(hist, q, max(values))
        want = exact(values, q)
        assert abs(got - want) <= 0.01 * want, (q, got, want)


@settings(max_examples=200, deadline=None)
@given(a=latencies, b=latencies)
def test_merge_equals_aggregating_the_union(a: list[float], b: list[float]) -> None:
    assert sketch.merge_into(build(a), build(b)) == build(a + b)


@settings(max_examples=200, deadline=None)
@given(values=latencies.filter(bool), q=st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_any_quantile_within_bound(values: list[float], q: float) -> None:
    got = sketch.quantile(build(values), q, max(values))
    want = exact(values, q)
    if want > sketch.MIN_MS:
        assert abs(got - want) <= 0.01 * want
    else:
        assert got <= sketch.MIN_MS * 1.01


@given(values=latencies)
def test_encode_decode_roundtrip(values: list[float]) -> None:
    hist = build(values)
    assert sketch.decode(sketch.encode(hist)) == hist


def test_empty() -> None:
    assert sketch.quantile({}, 0.5) is None
    assert sketch.decode(None) == {}


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(latencies, max_size=6))
def test_merging_concatenated_equals_merging_each(parts: list[list[float]]) -> None:
    blobs = [sketch.encode(build(values)) for values in parts]
    union = build([value for values in parts for value in values])
    assert sketch.merge_concatenated(b"".join(blobs)) == union
    compact = b"".join(sketch.compact(blob) or b"" for blob in blobs)
    assert dense.decode(dense.pack_concat(compact)) == union


def test_wide_packing_holds_counts_past_int32() -> None:
    hist = {sketch.ZERO_BIN: 2**40, 12: 3}
    blob = sketch.encode(hist, sketch.WIDE)
    assert len(blob) == 32
    assert sketch.decode(blob, sketch.WIDE) == hist


@settings(max_examples=200, deadline=None)
@given(values=latencies.filter(bool))
def test_quantiles_at_once_equal_each_alone(values: list[float]) -> None:
    hist = build(values)
    qs = [0.99, 0.5, 0.9, 0.95, 1.0, 0.0]
    assert sketch.quantiles(hist, qs, max(values)) == [
        sketch.quantile(hist, q, max(values)) for q in qs]
    assert sketch.quantiles({}, qs) == [None] * 6


def test_merged_counts_past_int32_are_exact() -> None:
    blob = sketch.compact(sketch.encode({5: 2**31 - 1, 9: 1}))
    assert dense.decode(dense.pack_concat(blob + blob)) == {5: 2**32 - 2, 9: 2}


def pairs(*flat: int) -> bytes:
    return array("i", flat).tobytes()


CORRUPT = {
    "unsorted bins": pairs(5, 1, 3, 1),
    "a repeated bin": pairs(3, 1, 3, 1),
    "a negative count": pairs(3, -2, 5, 1),
    "a zero count": pairs(3, 0),
    "half a pair": pairs(3, 1)[:6],
}


@pytest.mark.parametrize("blob", list(CORRUPT.values()), ids=list(CORRUPT))
def test_corrupted_blobs_are_refused_by_native_and_python_merges_alike(blob: bytes) -> None:
    good = pairs(1, 1, 4, 2)
    with pytest.raises(StoreError, match="corrupted latency histogram"):
        sketch.decode(blob)
    for check in (lambda: sketch.merge_packed(good, blob), lambda: sketch.check(blob)):
        with pytest.raises(StoreError, match="corrupted latency histogram"):
            check()
        with pytest.MonkeyPatch.context() as python_only:
            python_only.setattr(sketch, "_sketch", None)
            with pytest.raises(StoreError, match="corrupted latency histogram"):
                check()
    sketch.check(good)


def varints(*values: int) -> bytes:
    out = bytearray()
    for value in values:
        while value >= 0x80:
            out.append(value & 0x7F | 0x80)
            value >>= 7
        out.append(value)
    return bytes(out)


# Compact blobs (SQLite points' histograms) no `compact` wrote; bins are zigzagged (6: 3).
CORRUPT_COMPACT = {
    "a zero count": varints(6, 0),
    "a count past int32": varints(6, 2**31),
    "a bin past int32": varints(2**32, 1),
    "half a pair": varints(6),
    "a number cut short": varints(6, 1) + b"\x80",
}
# Out of order for one histogram, but what blobs written back to back read as.
JOINED = {"unsorted bins": (varints(10, 1, 6, 1), {5: 1, 3: 1}),
          "a repeated bin": (varints(6, 1, 6, 1), {3: 2})}


@pytest.mark.parametrize("native", [True, False])
def test_corrupted_compact_blobs_are_refused_natively_and_in_python(
        native: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not native:
        monkeypatch.setattr(sketch, "_sketch", None)
        monkeypatch.setattr(dense, "_sketch", None)
    for blob in CORRUPT_COMPACT.values():
        for read in (sketch.expand, lambda b: dense.pack_concat(varints(2, 1) + b)):
            with pytest.raises(StoreError, match="corrupted latency histogram"):
                read(blob)
    for blob, summed in JOINED.values():
        with pytest.raises(StoreError, match="not ascending"):
            sketch.expand(blob)
        assert dense.decode(dense.pack_concat(blob)) == summed


@settings(max_examples=300, deadline=None)
@given(hist=st.dictionaries(st.integers(-(2**31), 2**31 - 1), st.integers(1, 2**31 - 1),
                            max_size=12))
def test_compact_blobs_round_trip_natively_and_in_python(hist: sketch.Histogram) -> None:
    blob = sketch.encode(hist)
    small = sketch.compact(blob)
    assert small is None if not hist else len(small) <= 10 * len(hist)
    assert sketch.expand(small) == (blob or None)
    assert sketch.expand((small or b"") * 2, ascending=False) == ((blob * 2) or None)
    with pytest.MonkeyPatch.context() as python_only:
        python_only.setattr(sketch, "_sketch", None)
        assert sketch.compact(blob) == small
        assert sketch.expand(small) == (blob or None)


def test_a_compact_pair_of_a_typical_latency_takes_three_bytes() -> None:
    # 9 ms and 250 ms: bins 138 and 346, zigzagged to two-byte varints, counts one byte
    blob = sketch.compact(sketch.encode({sketch.bin_index(9.0): 2, sketch.bin_index(250.0): 1}))
    assert blob is not None and len(blob) == 6
    assert sketch.merge_compact(blob, blob) == sketch.compact(sketch.encode(
        {sketch.bin_index(9.0): 4, sketch.bin_index(250.0): 2}))


@settings(max_examples=300, deadline=None)
@given(flat=st.lists(st.integers(-(2**31), 2**31 - 1), max_size=12).filter(
    lambda f: len(f) % 2 == 0))
def test_native_and_python_merges_agree_on_any_pairs(flat: list[int]) -> None:
    """Any bytes: both merges give the same histogram, or both refuse it."""
    blob, good = array("i", flat).tobytes(), pairs(-3, 1, 7, 2)
    outcomes = []
    for native in (True, False):
        with pytest.MonkeyPatch.context() as patch:
            if not native:
                patch.setattr(sketch, "_sketch", None)
            try:
                outcomes.append(sketch.decode(sketch.merge_packed(good, blob)))
            except StoreError:
                outcomes.append("refused")
    assert outcomes[0] == outcomes[1]


def test_dense_sums_refuse_a_count_out_of_range_or_a_lying_header() -> None:
    valid = dense.encode({sketch.MIN_BIN + 1: 2, sketch.MIN_BIN + 3: 1})
    huge = valid[:2] + b"\xff" * 9 + b"\x01" + valid[3:]  # a field of 2**64 - 1
    lying = bytes([1, 99]) + valid[2:]
    for blob in (huge, lying, valid[:3], valid[:1]):
        for python in (False, True):
            with pytest.MonkeyPatch.context() as patch:
                if python:
                    patch.setattr(dense, "_sketch", None)
                with pytest.raises(StoreError, match="corrupted latency histogram"):
                    dense.decode(blob)
    assert dense.decode(valid) == {sketch.MIN_BIN + 1: 2, sketch.MIN_BIN + 3: 1}


NUMBERS = st.one_of(st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
                    st.sampled_from([0.0, -0.0, 1e16, 1e16 - 2, 2.0**53, float("nan")]))
KEYS = st.one_of(st.integers(-(2**40), 2**40), st.text(max_size=8),
                 st.sampled_from(["a\tb", "back\\slash", "new\nline", "cr\r", "ünï"]))


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.tuples(KEYS, st.integers(-(2**40), 2**40), st.tuples(*[NUMBERS] * 9),
                               st.dictionaries(st.integers(-(2**31), 2**31 - 1),
                                               st.integers(1, 2**31 - 1), max_size=6)),
                     max_size=20))
def test_postgres_rollup_copy_lines_in_c_read_as_the_python_ones(rows: list) -> None:
    packed = [(key, minute, *counters[:7], dense.encode(hist) if hist else None,
               *counters[7:]) for key, minute, counters, hist in rows]
    expected = postgres_rollup.copy_lines(packed)
    with pytest.MonkeyPatch.context() as python_only:
        python_only.setattr(sketch, "_sketch", None)
        assert postgres_rollup.copy_lines(packed) == expected
    lines = expected.split("\n")
    assert len(lines) == len(packed) + 1 and lines[-1] == ""
    for line, (key, minute, _, hist) in zip(lines, rows, strict=False):
        fields = line.split("\t")
        bins = sorted(hist)
        assert len(fields) == 13
        assert fields[1] == str(minute)
        assert fields[9:11] == [f"{{{','.join(map(str, bins))}}}",
                                f"{{{','.join(str(hist[b]) for b in bins)}}}"]
        assert unescape(fields[0]) == (key if isinstance(key, str) else str(key))


def unescape(field: str) -> str:
    """A text field of COPY's text format, as PostgreSQL reads it."""
    return re.sub(r"\\(.)", lambda m: {"t": "\t", "n": "\n", "r": "\r"}.get(m[1], m[1]),
                  field)


def test_rollup_copy_lines_escape_text_keys_as_copy_reads_them() -> None:
    hist = dense.encode({sketch.ZERO_BIN: 3, 5: 2, 12: 7})
    line = postgres_rollup.copy_lines([("a\tb\\c\nd", 60, 1, 0, 0, 5, 1, 2.5, 3.0, hist,
                                        1.0, 2.0)])
    assert line == ("a\\tb\\\\c\\nd\t60\t1\t0\t0\t5\t1\t2.5\t3.0"
                    "\t{-2147483648,5,12}\t{3,2,7}\t1.0\t2.0\n")


def test_a_latency_near_the_largest_float_reads_as_its_exact_maximum() -> None:
    hist: sketch.Histogram = {}
    sketch.add(hist, 1.7e308)
    assert sketch.bin_value(sketch.bin_index(1.7e308)) == math.inf
    assert sketch.quantiles(hist, [0.5, 0.99], 1.7e308) == [1.7e308, 1.7e308]
