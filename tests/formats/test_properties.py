"""Any bytes in, no exception out: every parser, detection and chunk aggregation."""

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logctl.errors import ParseError
from logctl.formats import FormatOptions, make_format
from logctl.formats.detect import detect_format
from logctl.metrics.points import aggregate_lines

OPTIONS = FormatOptions(now=1764082045.0)
FORMATS = ["combined", "common", "jsonl", "logfmt", "syslog", r"regex:(?P<ts>\S+) (?P<status>\d+)"]
CLF = (b'1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET /a HTTP/1.1" 200 1 "-" "ua" 0.1\n')

lines = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=40).map(lambda b: CLF[:30] + b + CLF[30:]),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.recursive(st.just(b"1"), lambda c: c.map(lambda x: b'{"a":' + x + b"}"), max_leaves=50),
)


@pytest.mark.parametrize("name", FORMATS)
@settings(max_examples=150, deadline=None)
@given(data=st.lists(lines, max_size=8).map(b"\n".join))
def test_any_bytes_no_exception(name: str, data: bytes) -> None:
    fmt = make_format(name, OPTIONS)
    for line in data.split(b"\n"):
        fmt.parse_line(line)
    aggregate = aggregate_lines(data, fmt.parse_line)
    assert aggregate.requests + sum(aggregate.malformed.values()) == aggregate.lines


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2000))
def test_detection_never_crashes(data: bytes) -> None:
    with contextlib.suppress(ParseError):
        detect_format(data, OPTIONS)


def test_huge_line_and_nuls_are_malformed_not_buffered() -> None:
    fmt = make_format("combined", OPTIONS)
    data = CLF + b"x" * 200_000 + b"\n" + b"\0" * 1000 + b"\n" + CLF
    aggregate = aggregate_lines(data, fmt.parse_line)
    assert (aggregate.lines, aggregate.requests, sum(aggregate.malformed.values())) == (4, 2, 2)
