"""The columnar engine gives the same aggregate as the line-by-line parser."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logctl.formats.combined import CombinedParser
from logctl.metrics.columnar import aggregate_clf
from logctl.metrics.points import ChunkAggregate, aggregate_lines
from logctl.synthetic import generate

DATA = Path(__file__).parent.parent / "data"


def canonical(aggregate: ChunkAggregate) -> tuple:
    points = {}
    for key, point in aggregate.points.items():
        values = list(point.as_tuple())
        values[5] = round(values[5], 6)  # latency sums: same values, other addition order
        points[key] = tuple(values)
    return points, aggregate.malformed, aggregate.samples, aggregate.lines


def same(data: bytes, unit: str = "auto") -> None:
    parser = CombinedParser(unit)
    assert canonical(aggregate_clf(data, unit, parser)) == canonical(aggregate_lines(data, parser))


def test_real_apache_log() -> None:
    data = (DATA / "apache_logs.log").read_bytes()
    same(data)
    assert aggregate_clf(data, "auto", CombinedParser()).requests == 9999


@pytest.mark.parametrize("unit", ["auto", "s", "ms", "us"])
def test_generated_log_with_response_times(unit: str) -> None:
    same("".join(generate(5000, seed=3, per_minute=700)).encode(), unit)


EDGE = [
    b'2001:db8::1 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.0" 200 2326',
    b'1.1.1.1 - - [10/Oct/2000:13:55:36 +0000] "GET /caf\xe9 HTTP/1.1" 200 1 "-" "ua" 0.5',
    b'1.1.1.1 - - [10/Oct/2000:13:55:36 +0000] "GET /x HTTP/1.1" 200 1 "-" "ua" 0.5\r',
    b'1.1.1.1 - - [10/Oct/2000:13:55:99 +0000] "GET /x HTTP/1.1" 200 1 "-" "ua"',
    b'vh:80 1.1.1.1 - - [10/Oct/2000:13:55:36 +0000] "GET /v HTTP/1.1" 200 1 "-" "ua"',
    b'1.1.1.1 - - [10/Oct/2000:13:56:36 +0000] "PROPFIND /dav" 207 1',
    b'1.1.1.1 - - [10/Oct/2000:13:57:36 +0000] "GET /q HTTP/1.1" 200 1 "-" "a \\"b\\"" 7',
    b"garbage",
    b"",
    b"   ",
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /z HTTP/1.1" 200 - "-" "ua" x',
]


def test_edge_lines() -> None:
    same(b"\n".join(EDGE) + b"\n")
    same(b"\n".join(reversed(EDGE)))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(EDGE), st.binary(max_size=60)), max_size=30))
def test_any_mix_of_lines(lines: list[bytes]) -> None:
    same(b"\n".join(line.replace(b"\n", b" ") for line in lines))


PATHS = ["/a/1/2/3/b", "/1", "/1/", "//2//", "/a/12?x=/3", "/b/4#f/5", "/c?", "/d#",
         "/e/0042.json", "/f/123abc", "/g/550e8400-e29b-41d4-a716-446655440000",
         "/h/deadbeef12", "http://host/7/x", "*", "/" + "9/" * 150, "/i/\u0661\u0662"]


@pytest.mark.parametrize("path", PATHS)
def test_routes_fold_like_the_line_engine(path: str) -> None:
    same(f'1.1.1.1 - - [10/Oct/2000:13:55:36 +0000] "GET {path} HTTP/1.1" 200 1 "-" "ua" 0.5\n'
         .encode())


def test_sizes_beyond_64_bits_take_the_line_parser() -> None:
    same(b'1.1.1.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 '
         b'123456789012345678901 "-" "ua"\n')
