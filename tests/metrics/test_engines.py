"""The fast engines (native and columnar) give the same aggregate as the line-by-line
parser."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logctl.formats.combined import CombinedParser
from logctl.metrics import columnar, native
from logctl.metrics.points import ChunkAggregate, aggregate_lines
from logctl.synthetic import generate

DATA = Path(__file__).parent.parent / "data"
ENGINES = {"native": native.aggregate_clf, "columnar": columnar.aggregate_clf}


@pytest.fixture(params=list(ENGINES))
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


def canonical(aggregate: ChunkAggregate) -> tuple:
    points = {}
    for key, point in aggregate.points.items():
        values = list(point.as_tuple())
        values[5] = round(values[5], 6)  # latency sums: same values, other addition order
        points[key] = tuple(values)
    return points, aggregate.malformed, aggregate.samples, aggregate.lines


def same(engine: str, data: bytes, unit: str = "auto") -> None:
    parser = CombinedParser(unit)
    fast = ENGINES[engine](data, unit, parser)
    assert canonical(fast) == canonical(aggregate_lines(data, parser))


def test_native_engine_is_built() -> None:
    assert native.AVAILABLE  # CI has a C compiler: the fallback must not hide a build break


def test_real_apache_log(engine: str) -> None:
    data = (DATA / "apache_logs.log").read_bytes()
    same(engine, data)
    assert ENGINES[engine](data, "auto", CombinedParser()).requests == 9999


@pytest.mark.parametrize("unit", ["auto", "s", "ms", "us"])
def test_generated_log_with_response_times(engine: str, unit: str) -> None:
    same(engine, "".join(generate(5000, seed=3, per_minute=700)).encode(), unit)


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
    b'1.1.1.1 - - [10/Oct/2000:13:58:60 +0000] "GET /leap HTTP/1.1" 200 1 "-" "ua" 0.5',
    b'1.1.1.1 - - [31/feb/2001:23:59:59 -0530] "GET /feb HTTP/1.1" 500 1 "-" "ua" 12',
    b'1.1.1.1 - - [10/Foo/2000:13:58:36 +0000] "GET /month HTTP/1.1" 200 1',
    b'1.1.1.1 - - [10/Oct/0000:13:58:36 +0000] "GET /year HTTP/1.1" 200 1',
    b'1.1.1.1 - - [01/Jan/1901:00:00:00 +1400] "GET /old HTTP/1.1" 404 1 "-" "ua" 0',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /rt HTTP/1.1" 200 1 "-" "ua" ' + b"9" * 400,
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /rt HTTP/1.1" 200 1 "-" "ua" 1e3',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /tab\tx HTTP/1.1" 200 1 "-" "\xff"',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /crcr HTTP/1.1" 200 1 "-" "ua" 1\r',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /big HTTP/1.1" 200 999999999999999999',
    b'1.1.1.1 - - [10/Oct/2000:13:58:37 +0000] "GET /big HTTP/1.1" 200 999999999999999999',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /long HTTP/1.1" 200 1 "-" "' + b"u" * 70000,
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "get /lower HTTP/1.1" 200 1',
    b'1.1.1.1 - - [10/Oct/99999999999:13:55:36 +0000] "GET /huge-year HTTP/1.1" 200 1',
    b'1.1.1.1 - - [31/Dec/1969:23:59:59 +0000] "GET /1969 HTTP/1.1" 200 1',
    b'1.1.1.1 - - [01/Jan/1970:00:00:00 +0000] "GET /1970 HTTP/1.1" 200 1',
    b'1.1.1.1 - - [31/Dec/9999:23:59:59 +0000] "GET /9999 HTTP/1.1" 200 1',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /15 HTTP/1.1" 200 999999999999999',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /16 HTTP/1.1" 200 9999999999999999',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /4301 HTTP/1.1" 200 ' + b"9" * 4301,
    b'10.0.0.2, 10.0.0.1 - - [10/Oct/2000:13:58:36 +0000] "GET /xff HTTP/1.1" 200 5 "-" "u"',
    b'"10.0.0.2" 10.0.0.1 - - [10/Oct/2000:13:58:36 +0000] "GET /qx HTTP/1.1" 200 5 "-" "u"',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /two HTTP/1.1" 200 1 "-" "u" 0.2 0.1',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /up HTTP/1.1" 502 1 "-" "u" 0.2 -',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "" 400 0 "-" "-"',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /t HTTP/1.1" 200 4 "-" "u" 9 "r@d" "h" 3ms',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /i HTTP/1.1" 200 4 "-" "u" 86 0.012 [up] []'
    b' 10.0.0.1:80 4 0.011 200 abc',
]


def test_edge_lines(engine: str) -> None:
    same(engine, b"\n".join(EDGE) + b"\n")
    same(engine, b"\n".join(reversed(EDGE)))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(EDGE), st.binary(max_size=60)), max_size=30))
def test_any_mix_of_lines(lines: list[bytes]) -> None:
    for engine in ENGINES:
        same(engine, b"\n".join(line.replace(b"\n", b" ") for line in lines))


VALID = (b'1.1.1.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a/1?b HTTP/1.1" 404 2326 "-" '
         b'"ua \\"x\\"" 0.25')


@st.composite
def near_miss(draw: st.DrawFn) -> bytes:
    """A valid line with a few bytes spliced in, replaced or cut: the lines a strict
    scanner is most likely to read differently from the line parser."""
    line = VALID
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, len(line)))
        end = draw(st.integers(start, min(len(line), start + 3)))
        insert = draw(st.binary(max_size=3) | st.sampled_from(
            [b" ", b'"', b"\\", b"[", b"]", b"-", b"0", b"9", b".", b"\r", b"/", b"?"]))
        line = line[:start] + insert + line[end:]
    return line.replace(b"\n", b" ")


@settings(max_examples=300, deadline=None)
@given(st.lists(near_miss() | st.just(VALID), min_size=1, max_size=8))
def test_near_misses_of_a_valid_line(lines: list[bytes]) -> None:
    for engine in ENGINES:
        same(engine, b"\n".join(lines))


PATHS = ["/a/1/2/3/b", "/1", "/1/", "//2//", "/a/12?x=/3", "/b/4#f/5", "/c?", "/d#",
         "/e/0042.json", "/f/123abc", "/g/550e8400-e29b-41d4-a716-446655440000",
         "/h/deadbeef12", "http://host/7/x", "*", "/" + "9/" * 150, "/i/\u0661\u0662",
         "/1" * 20000, "/j/\udcff/7"]


@pytest.mark.parametrize("path", PATHS)
def test_routes_fold_like_the_line_engine(engine: str, path: str) -> None:
    line = f'1.1.1.1 - - [10/Oct/2000:13:55:36 +0000] "GET {path} HTTP/1.1" 200 1 "-" "ua" 0.5\n'
    same(engine, line.encode("utf-8", "surrogateescape"))  # \udcff: the byte 0xff


def test_sizes_of_more_than_15_digits_are_malformed(engine: str) -> None:
    data = (b'1.1.1.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 '
            b'123456789012345678901 "-" "ua"\n')
    same(engine, data)
    assert ENGINES[engine](data, "auto", CombinedParser()).malformed == {None: 1}
