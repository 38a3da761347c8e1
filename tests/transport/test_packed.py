"""PackedPoints columns: the native packing and unpacking write and read exactly what the
pure-Python ones do, and refuse the same broken columns."""

from array import array
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logctl.errors import UsageError
from logctl.formats.combined import CombinedParser
from logctl.metrics.native import aggregate_clf
from logctl.metrics.points import ChunkAggregate
from logctl.pb import storage_pb2 as spb
from logctl.synthetic import generate
from logctl.transport import packed

native = pytest.mark.skipif(packed._columns is None, reason="built without a C compiler")


@pytest.fixture(params=["native", "python"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "native" and packed._columns is None:
        pytest.skip("built without a C compiler")
    if request.param == "python":
        monkeypatch.setattr(packed, "_columns", None)
    yield request.param


def scanned(lines: int, seed: int = 1, per_minute: int = 700) -> ChunkAggregate:
    data = "".join(generate(lines, seed=seed, per_minute=per_minute)).encode()
    return aggregate_clf(data + b"junk\n", "auto", CombinedParser())


@native
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 1000), per_minute=st.sampled_from([5, 700, 10_000]),
       lines=st.integers(0, 300))
def test_native_columns_are_the_python_ones(seed: int, per_minute: int, lines: int) -> None:
    aggregate = scanned(lines, seed, per_minute)
    made = packed.pack_points(aggregate).SerializeToString()
    columns = packed._columns
    try:
        packed._columns = None
        assert packed.pack_points(aggregate).SerializeToString() == made
        python = ChunkAggregate()
        packed.unpack_points(spb.PackedPoints.FromString(made), python)
    finally:
        packed._columns = columns
    back = ChunkAggregate()
    packed.unpack_points(spb.PackedPoints.FromString(made), back)
    assert back.groups == python.groups
    assert sum(len(each) for each in back.groups) == sum(len(each) for each in aggregate.groups)


def test_a_group_comes_back_as_it_went(path: str) -> None:
    hist = array("i", [3, 1, 9, 2]).tobytes()
    group = (1748736000, "h", "GET", "/users/42", 200, (3, 0, 1, 10, 3, 6.5, 3.0, 1.0, 2.0),
             hist)
    aggregate = ChunkAggregate(groups=[[group, (*group[:6], None)]])
    msg = packed.pack_points(aggregate)
    assert list(msg.routes) == ["/users/:id"] and list(msg.series) == [0, 0]
    assert list(msg.hist_sizes) == [16, 0]
    back = ChunkAggregate()
    packed.unpack_points(msg, back)
    assert back.groups == [[(*group[:3], "/users/:id", *group[4:]),
                            (*group[:3], "/users/:id", *group[4:6], None)]]


def broken(how: str) -> spb.PackedPoints:
    pairs = array("i", [3, 1, 9, 2])
    if how == "a count of zero":
        pairs[1] = 0
    elif how == "bins not ascending":
        pairs[2] = pairs[0]
    group = (60, "", "GET", "/", 200, (3, 0, 0, 10, 3, 6.5, 3.0, 60.0, 61.0), pairs.tobytes())
    msg = packed.pack_points(ChunkAggregate(groups=[[group, group]]))
    if how == "short column":
        del msg.counts[-1]
    elif how == "series out of range":
        msg.series[0] = len(msg.hosts)
    elif how == "sizes past the histograms":
        msg.hist_sizes[0] += 8
    elif how == "a key short of a status":
        del msg.statuses[-1]
    elif how == "half a pair":
        msg.hist_sizes[0] -= 4
        msg.hists = msg.hists[4:]
    return msg


@pytest.mark.parametrize("how", ["short column", "series out of range",
                                 "sizes past the histograms", "a key short of a status",
                                 "a count of zero", "bins not ascending", "half a pair"])
def test_broken_columns_are_refused(path: str, how: str) -> None:
    msg = broken(how)
    with pytest.raises(UsageError, match="bad packed points"):
        packed.unpack_points(msg, ChunkAggregate())
