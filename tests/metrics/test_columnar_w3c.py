"""The columnar W3C engine gives the same aggregate as W3cParser line by line (layouts
changing mid-chunk, a header from before the chunk, odd fields), and takes the common
lines itself."""

from hypothesis import given, settings
from hypothesis import strategies as st

from logctl.formats.record import Record
from logctl.formats.w3c import W3cParser
from logctl.metrics.columnar_w3c import aggregate_w3c
from logctl.metrics.points import aggregate_lines
from tests.formats.test_w3c import CLOUDFRONT, CLOUDFRONT_FIELDS, IIS, IIS_FIELDS, cloudfront_line
from tests.metrics.test_engines import canonical


def same(data: bytes, header: str = "") -> None:
    fast = aggregate_w3c(data, header, W3cParser(header))
    assert canonical(fast) == canonical(aggregate_lines(data, W3cParser(header)))


class Counting(W3cParser):
    """A W3cParser that counts the data lines it is asked to parse."""

    def __init__(self, header: str) -> None:
        super().__init__(header)
        self.calls = 0

    def __call__(self, line: bytes) -> Record | None:
        self.calls += not line.startswith(b"#")
        return super().__call__(line)


def test_vendor_samples() -> None:
    same(CLOUDFRONT)
    same(IIS)
    parser = Counting("")
    aggregate = aggregate_w3c(IIS, "", parser)
    assert (aggregate.requests, parser.calls) == (aggregate_lines(IIS, W3cParser()).requests, 0)


def test_a_header_from_before_the_chunk_and_a_layout_change_inside_it() -> None:
    lines = [cloudfront_line(f"21:{m:02d}:{s:02d}", m * s, f"/p/{s % 7}", (200, 404, 503)[s % 3],
                             f"0.{s:03d}") for m in range(3) for s in range(60)]
    header = f"#Fields: {CLOUDFRONT_FIELDS}"
    iis = ("2019-12-04 22:00:01 10.0.0.4 GET /iis - 80 - 203.0.113.5 ua - 200 0 0 "
           "15 4096 shop.example")
    data = "\n".join([*lines, f"#Fields: {IIS_FIELDS} sc-bytes cs-host", iis, iis, ""]).encode()
    same(data, header)
    parser = Counting(header)
    aggregate = aggregate_w3c(data, header, parser)
    assert (aggregate.requests, parser.calls) == (182, 0)
    assert {key[1] for key in aggregate.points} == {"d111111abcdef8.cloudfront.net",
                                                    "shop.example"}
    latencies = sorted(p.latency_max for p in aggregate.points.values())
    assert latencies[0] == 15.0 and latencies[-1] == 59.0  # IIS ms, CloudFront s -> ms


def test_lines_without_a_layout_are_malformed_as_before() -> None:
    data = b"2019-06-10 00:00:01 10.0.0.4 GET /x - 80\n#Version: 1.0\n"
    same(data)
    assert aggregate_w3c(data, "", W3cParser()).malformed == {None: 1}


ODD = ["-", "", "0", "7", "200", "0200", "99999999999999999999", "1e3", "-1", " ", "0.5",
       "2019-06-10", "2019-02-30", "0000-01-01", "2019-13-01", "00:00:60", "23:59:59.5",
       "24:00:00", "GET", "g\u00e9t", "/a/1", "/b?x", "+", "x-y", "1.0000000000000001",
       "00000000000000000000000001"]
REQUIRED = ["date", "time", "cs-method", "cs-uri-stem", "sc-status"]
NAMES = [*REQUIRED, "sc-bytes", "time-taken", "cs(host)", "x-edge-location", "c-ip",
         "s-sitename"]


@st.composite
def w3c_chunk(draw: st.DrawFn) -> bytes:
    """Layouts drawn from the fields both engines read, and lines of values of every odd
    shape, with the layout changing between some of them."""
    out: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        extra = draw(st.lists(st.sampled_from(NAMES), max_size=5))
        names = draw(st.permutations(REQUIRED + extra)) if draw(st.integers(0, 4)) else extra
        out.append("#Fields: " + " ".join(names))
        sep = draw(st.sampled_from([" ", "\t"]))
        for _ in range(draw(st.integers(0, 6))):
            good = {"date": "2019-06-10", "time": "00:00:01", "cs-method": "GET",
                    "cs-uri-stem": "/a/1", "sc-status": "200", "sc-bytes": "12",
                    "time-taken": "0.25"}
            values = [draw(st.sampled_from(ODD)) if not draw(st.integers(0, 5)) else
                      good.get(n, "x") for n in names]
            if not draw(st.integers(0, 5)):
                values = values[:-1]
            mixed = " \t"[sep == " "] if not draw(st.integers(0, 4)) else sep
            out.append(mixed.join(values) + draw(st.sampled_from(["", "\r", "\r\r"])))
    return ("\n".join(out) + "\n").encode()


@settings(max_examples=300, deadline=None)
@given(w3c_chunk(), st.sampled_from(["", f"#Fields: {IIS_FIELDS}"]))
def test_any_layout_and_values(data: bytes, header: str) -> None:
    same(data, header)
