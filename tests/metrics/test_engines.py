"""The fast engines (native and columnar) give the same aggregate as the line-by-line
parser."""

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logctl.formats.combined import CombinedParser
from logctl.metrics import columnar, native, sketch
from logctl.metrics.points import ChunkAggregate, aggregate_lines
from logctl.synthetic import generate

DATA = Path(__file__).parent.parent / "data"
ENGINES = {"native": native.aggregate_clf, "columnar": columnar.aggregate_clf,
           "columnar, polars grouping": columnar.aggregate_clf}


@pytest.fixture(params=list(ENGINES))
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "columnar, polars grouping":  # as where _groups.c was not built
        monkeypatch.setattr(columnar, "_groups", None)
    return request.param


class LatencySum(float):
    """A latency sum that equals another within float rounding: engines add the same
    values in other orders (rounding both to six places differs when one lies on the
    boundary)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, float) and math.isclose(self, other, rel_tol=1e-12,
                                                         abs_tol=1e-9)

    __hash__ = float.__hash__


def canonical(aggregate: ChunkAggregate) -> tuple:
    points = {}
    for key, point in aggregate.points.items():
        values = list(point.as_tuple())
        values[5] = LatencySum(values[5])
        points[key] = tuple(values)
    return points, aggregate.malformed, aggregate.samples, aggregate.lines


def same(engine: str, data: bytes, unit: str = "auto") -> None:
    parser = CombinedParser(unit)
    fast = ENGINES[engine](data, unit, parser)
    assert canonical(fast) == canonical(aggregate_lines(data, parser))


def test_native_engine_is_built() -> None:
    assert native.AVAILABLE  # CI has a C compiler: the fallback must not hide a build break
    assert columnar._groups is not None


def test_real_apache_log(engine: str) -> None:
    data = (DATA / "apache_logs.log").read_bytes()
    same(engine, data)
    assert ENGINES[engine](data, "auto", CombinedParser()).requests == 9999


@pytest.mark.parametrize("unit", ["auto", "s", "ms", "us"])
@pytest.mark.parametrize("per_minute", [700, 10_000])
def test_generated_log_with_response_times(engine: str, unit: str, per_minute: int) -> None:
    # dense minutes give groups more histogram bins than the scanner keeps in the group
    same(engine, "".join(generate(5000, seed=3, per_minute=per_minute)).encode(), unit)


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
    b'vh.example:443 10.0.0.2, 10.0.0.1 - - [10/Oct/2000:13:58:36 +0000] "GET /vx HTTP/1.1"'
    b' 200 5 "-" "u" 0.004',
    b'2001:db8::2, 10.0.0.1 - - [10/Oct/2000:13:58:36 +0000] "GET /v6 HTTP/1.1" 200 5',
    b'unix: - - [10/Oct/2000:13:58:36 +0000] "GET /sock HTTP/1.1" 200 5 "-" "u"',
    b'1.1.1.1 - "a b" [10/Oct/2000:13:58:36 +0000] "GET /qu HTTP/1.1" 200 5 "-" "u"',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /m HTTP/1.1" 200 5 "-" "u" "10.0.0.9"',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /m HTTP/1.1" 200 5 "-" "u" "a 5 b" 0.3',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /m HTTP/1.1" 200 5 "-" "u" 0.3 0.1, 0.2',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /m HTTP/1.1" 200 5 "-" "u" 0.3 0.1 : 0.2',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /m HTTP/1.1" 200 5 "-" "u" x1 7 "q"  \t',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /m HTTP/1.1" 200 5 "-" "u" 0.3\t9',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /m HTTP/1.1" 200 5 "-" "u" a"b 9',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /c HTTP/1.1" 200 5 0.25',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /c HTTP/1.1" 200 5 "-" 0.25',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /t HTTP/1.1" 200 4 "-" "u" 9 "r@d" 3ms',
    b'1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /i HTTP/1.1" 200 4 "-" "u" 86 0.012 [a b]',
    b'a,b c - - [10/Oct/2000:13:58:36 +0000] "GET /comma HTTP/1.1" 200 5',
    b'a b,c - - [10/Oct/2000:13:58:36 +0000] "GET /comma HTTP/1.1" 200 5',
    b'a, b, - - [10/Oct/2000:13:58:36 +0000] "GET /comma HTTP/1.1" 200 5',
    b'[::1] - - [10/Oct/2000:13:58:36 +0000] "GET /br HTTP/1.1" 200 5',
    b'vh a b - - [10/Oct/2000:13:58:36 +0000] "GET /three HTTP/1.1" 200 5',
    b'vh\xc3\xa9 1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /utf HTTP/1.1" 200 5',
    b'vh\xff 1.1.1.1 - - [10/Oct/2000:13:58:36 +0000] "GET /bad HTTP/1.1" 200 5',
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


def splice(draw: st.DrawFn, line: bytes, inserts: list[bytes]) -> bytes:
    """`line` with one to three spans of up to 3 bytes replaced by random bytes or by one
    of `inserts` (the bytes that matter to a format's grammar), newlines made spaces: the
    lines a fast engine is most likely to read differently from the line parser."""
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, len(line)))
        end = draw(st.integers(start, min(len(line), start + 3)))
        insert = draw(st.binary(max_size=3) | st.sampled_from(inserts))
        line = line[:start] + insert + line[end:]
    return line.replace(b"\n", b" ")


@st.composite
def near_miss(draw: st.DrawFn, line: bytes = VALID) -> bytes:
    """A valid line with a few bytes spliced in, replaced or cut."""
    return splice(draw, line, [b" ", b'"', b"\\", b"[", b"]", b"-", b"0", b"9", b".", b"\r",
                               b"/", b"?", b",", b", ", b"ms"])


@settings(max_examples=300, deadline=None)
@given(st.lists(near_miss() | st.just(VALID), min_size=1, max_size=8))
def test_near_misses_of_a_valid_line(lines: list[bytes]) -> None:
    for engine in ENGINES:
        same(engine, b"\n".join(lines))


VARIANTS = [  # what nginx, Apache and proxies write: the scanner reads them all itself
    b'10.0.0.2, 10.0.0.1, 127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /a HTTP/1.1" 200'
    b' 571 "-" "curl/8"',
    b'shop.example:443 10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /b HTTP/1.1" 200 5'
    b' "-" "curl/8"',
    b'shop.example 10.0.0.2, 10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "POST /c HTTP/1.1"'
    b' 503 5 "-" "curl/8" 0.120 0.119',
    b'10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /d HTTP/1.1" 200 5 "-" "curl/8"'
    b' "10.9.9.9" 0.005 0.004, 0.001',
    b'10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /e HTTP/1.1" 502 5 "-" "curl/8" 0.005 -',
    b'10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /f HTTP/1.1" 200 5 "-" "curl/8" 3120',
    b'10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /g HTTP/1.1" 404 0 0.002',
]


def test_the_scanner_reads_the_common_variants_itself() -> None:
    data = b"\n".join(VARIANTS) + b"\n"
    same("native", data)
    groups, leftovers, counted, *_ = native._clf.scan(data, 0.0, sketch.LN_GAMMA,
                                                      sketch.MIN_BIN)
    assert (counted, leftovers) == (len(VARIANTS), [])
    hosts = {group[1] for group in groups}
    assert hosts == {"", "shop.example:443", "shop.example"}
    latencies = sorted(group[5][5] for group in groups if group[5][4])
    assert latencies == [2.0, 3.12, 5.0, 5.0, 120.0]


TOKENS = [b"10.0.0.1", b"10.0.0.2,", b"2001:db8::1,", b"unix:", b"vh:80", b"-", b"a,b",
          b'"x"', b"[", b"h\xc3\xa9"]
TAILS = [b"", b" 0.5", b" 0.5 0.4", b" 0.5 -", b' "10.0.0.9" 0.5', b" 0.5 0.1, 0.2",
         b" 0.5 0.1 : 0.2", b' 9 "r" "u" 3ms', b" 86 0.012 [up] []", b' "a b" 7', b" 12",
         b" -", b"  ", b"\t", b' "q"', b" x 5"]


@st.composite
def variant_line(draw: st.DrawFn) -> bytes:
    """A combined line with a random prefix of client-ish tokens and a random tail: the
    variants' grammar, valid or not, where the engines could read them differently."""
    prefix = b" ".join(draw(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=5)))
    user = draw(st.sampled_from([b"- -", b'- "a b"', b"- bob", b"-"]))
    agent = draw(st.sampled_from([b' "-" "ua"', b"", b' "-"']))
    tail = b"".join(draw(st.lists(st.sampled_from(TAILS), max_size=3)))
    return (prefix + b" " + user + b' [10/Oct/2000:13:55:36 +0000] "GET /v/1 HTTP/1.1" 200 7'
            + agent + tail)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(VARIANTS).flatmap(near_miss), min_size=1, max_size=8))
def test_near_misses_of_the_variants(lines: list[bytes]) -> None:
    for engine in ENGINES:
        same(engine, b"\n".join(lines))


@settings(max_examples=300, deadline=None)
@given(st.lists(variant_line(), min_size=1, max_size=10))
def test_any_variant_reads_alike(lines: list[bytes]) -> None:
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
