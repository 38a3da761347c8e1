"""The JSON engine's column-wise times read every value as parse_any does, to the bit:
CLF stamps, RFC 3339 times, epoch numbers and digit strings, near misses of each (which
parse_any itself then reads), and values of no form."""

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from logctl.formats.timestamps import parse_any
from logctl.metrics.columnar_time import times

two = st.integers(0, 99).map(lambda n: f"{n:02d}")
fraction = st.one_of(st.just(""), st.integers(0, 10**9).map(lambda n: f".{n}"),
                     st.text("0123456789", min_size=1, max_size=9).map(lambda s: "." + s))
clf = st.builds(
    lambda day, month, year, hh, mm, ss, frac, zone, tail:
    f"{day}/{month}/{year}:{hh}:{mm}:{ss}{frac}{zone}{tail}",
    st.integers(0, 40).map(str), st.sampled_from(["Jun", "feb", "DEC", "Xyz", "Ju"]),
    st.sampled_from(["2025", "1969", "1970", "99999"]), two, two, two, fraction,
    st.sampled_from(["", " +0000", " -0530", "Z", " +2400", "  +0100", "\t+0000"]),
    st.sampled_from(["", "]", "[]", "\n", " "]))
iso = st.builds(
    lambda year, month, day, sep, hh, mm, ss, frac, zone:
    f"{year}-{month}-{day}{sep}{hh}:{mm}:{ss}{frac}{zone}",
    st.sampled_from(["2025", "1969", "2024"]), two, two, st.sampled_from(["T", " ", "t"]),
    two, two, two, fraction,
    st.sampled_from(["", "Z", "z", "+02:00", "-05:30", "+0200", "+24:00", "+01:30:15"]))
epoch_text = st.one_of(st.integers(0, 10**20).map(str),
                       st.floats(0, 1e20, allow_nan=False).map(repr))
other = st.one_of(st.text(max_size=12), st.sampled_from(
    ["", "now", "-1", "1e10", " 2025-06-01T00:00:00Z", "2025-06-01T00:00:00Z\n",
     "١٢/Jun/2025:00:00:00 +0000", "[01/Jun/2025:00:00:00 +0000]"]))


def read_alike(values: list, dtype: pl.DataType | None = None) -> None:
    column = pl.Series(values, dtype=dtype)
    assert times(column).to_list() == [None if v is None else parse_any(v)
                                       for v in column.to_list()]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(clf, iso, epoch_text, other, st.none()), max_size=40))
def test_time_strings_read_as_parse_any_reads_them(values: list) -> None:
    read_alike(values, pl.String)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(), st.integers(-10**3, 10**19).map(float)), max_size=30))
def test_float_epochs_read_as_parse_any_reads_them(values: list[float]) -> None:
    read_alike(values, pl.Float64)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=30))
def test_integer_epochs_read_as_parse_any_reads_them(values: list[int]) -> None:
    read_alike(values, pl.Int64)


def test_the_forms_of_real_logs() -> None:
    values = ["01/Jun/2025:00:00:07 +0000", "2024-03-01T10:00:05+01:00",
              "2024-06-01T00:01:00.123456Z", "2024-06-01 00:01:00.5", "1748736000123",
              "[17/May/2015:10:05:03 +0000", "2025-02-30T00:00:00Z", None]
    assert times(pl.Series(values)).to_list() == [
        1748736007.0, 1709283605.0, 1717200060.123456, 1717200060.5, 1748736000.123, None,
        None, None]
    # Divided as Python divides: polars' division by a scalar is a multiplication by its
    # reciprocal, 1748736000.1230001 here.
    assert times(pl.Series([1748736000123])).to_list() == [1748736000.123]
    assert times(pl.Series([1733300000.5241024, 0.0, -3.0])).to_list() == [
        1733300000.5241024, None, None]
