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


def vendor_lines() -> dict[str, bytes]:
    """One documented line per vendor format (the format tests hold them)."""
    from tests.formats.test_aws_lb import ALB, ELB
    from tests.formats.test_haproxy import DOC as HAPROXY
    from tests.formats.test_proxies import ENVOY
    from tests.formats.test_s3 import DOC as S3
    return {"aws_lb": ALB, "elb": ELB, "haproxy": HAPROXY, "envoy": ENVOY, "s3": S3}


VENDOR = vendor_lines()


def near_misses(line: bytes) -> st.SearchStrategy[bytes]:
    """A documented line with a slice cut out, bytes put in, or two fields swapped."""
    fields = line.split(b" ")
    return st.one_of(
        st.tuples(st.integers(0, len(line)), st.integers(0, 40)).map(
            lambda ab: line[:ab[0]] + line[ab[0] + ab[1]:]),
        st.tuples(st.integers(0, len(line)), st.binary(max_size=12)).map(
            lambda at: line[:at[0]] + at[1] + line[at[0]:]),
        st.tuples(st.integers(0, len(fields) - 1), st.integers(0, len(fields) - 1)).map(
            lambda ij: b" ".join(_swapped(fields, *ij))),
    )


def _swapped(fields: list[bytes], i: int, j: int) -> list[bytes]:
    out = list(fields)
    out[i], out[j] = out[j], out[i]
    return out


@pytest.mark.parametrize("name", sorted(VENDOR))
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_vendor_near_misses_never_raise_and_add_up(name: str, data: st.DataObject) -> None:
    """Near misses of each vendor's documented line: the parser returns a record or None
    (never raises), and a chunk of them accounts for every line."""
    line = VENDOR[name]
    fmt = make_format("aws_lb" if name == "elb" else name, OPTIONS)
    misses = data.draw(st.lists(near_misses(line), min_size=1, max_size=6))
    for miss in misses:
        fmt.parse_line(miss)
    chunk = b"\n".join(miss.replace(b"\n", b" ") for miss in [line, *misses]) + b"\n"
    aggregate = aggregate_lines(chunk, fmt.parse_line)
    assert aggregate.requests >= 1  # the documented line itself
    assert aggregate.requests + sum(aggregate.malformed.values()) == aggregate.lines
