"""The columnar load balancer engine gives the same aggregate as AwsLbParser line by line,
and takes the documented ALB and ELB lines itself."""

from hypothesis import given, settings
from hypothesis import strategies as st

from logctl.formats.aws_lb import AwsLbParser
from logctl.formats.record import Record
from logctl.metrics.columnar_lb import aggregate_lb
from logctl.metrics.points import aggregate_lines
from tests.formats.test_aws_lb import ALB, ELB
from tests.metrics.test_engines import canonical, splice


def same(data: bytes) -> None:
    assert canonical(aggregate_lb(data, AwsLbParser())) == canonical(
        aggregate_lines(data, AwsLbParser()))


class Counting(AwsLbParser):
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, line: bytes) -> Record | None:
        self.calls += 1
        return super().__call__(line)


def alb(n: int) -> bytes:
    """The documented ALB entry, varied: time, path, status, sizes and times."""
    status = (200, 404, 502, 503)[n % 4]
    return (ALB.replace(b"22:23:00.186641Z", b"22:%02d:%02d.%06dZ" % (n // 60 % 60, n % 60, n))
            .replace(b"0.000 0.001 0.000 200 200 34 366",
                     b"0.%03d 0.%03d 0.000 %d 200 34 %d" % (n % 7, n % 1000, status, n * 3))
            .replace(b"www.example.com:80/", b"www.example.com:80/api/%d?q=%d" % (n, n)))


def test_documented_lines_take_the_fast_path() -> None:
    lines = [alb(n) for n in range(300)] + [ELB, ELB.replace(b"my-loadbalancer", b"other")]
    data = b"\n".join(lines) + b"\n"
    same(data)
    parser = Counting()
    aggregate = aggregate_lb(data, parser)
    assert (aggregate.requests, parser.calls) == (302, 0)
    assert sum(p.bytes for p in aggregate.points.values()) == 3 * sum(range(300)) + 58
    assert {key[1] for key in aggregate.points} == {"www.example.com:80"}
    assert sum(p.errors for p in aggregate.points.values()) == 150


EDGE = [
    ELB.replace(b"10.0.0.1:80 0.000073 0.001048 0.000057 200 200 0 29", b"- -1 -1 -1 504 - 0 0"),
    ELB.replace(b" 200 200 ", b" - - "),
    ELB.replace(b"1969", b"1969").replace(b"2015-05-13T", b"1969-05-13T"),
    ELB.replace(b" 29 ", b" " + b"9" * 16 + b" "),
    ELB.replace(b'"GET http://www.example.com:80/ HTTP/1.1"', b'"- - -"'),
    ELB.replace(b'"GET http://www.example.com:80/ HTTP/1.1"', b'""'),
    ELB.replace(b"http://www.example.com:80/", b"http://[::1/x"),
    ELB.replace(b"http://www.example.com:80/", b"/no/scheme"),
    ELB.replace(b"http://www.example.com:80/", b"http://h\xc3\xa9:80/caf\xc3\xa9"),
    ELB.replace(b"GET", b"G\xc3\x89T"),
    ELB + b"\r",
    ELB + b"\r\r",
    ELB[:-8],
    ELB.replace(b"0.000073", b"-0.0"),
    ELB.replace(b"0.000073", b"1.123456789"),
    ELB.replace(b"2015-05-13T23:39:43.945958Z", b"2015-05-13T23:39:60Z"),
    ELB.replace(b"2015-05-13T23:39:43.945958Z", b"2015-02-30T23:39:43Z"),
    ELB.replace(b"2015-05-13T23:39:43.945958Z", b"2015-05-13T23:39:43.1234567Z"),
    ELB.replace(b"2015-05-13", b"2615-05-13"),  # microseconds past 2**53
    ELB.replace(b'"curl/7.38.0"', b'"a \\" b"'),
    b"garbage", b"",
]


def test_edge_lines() -> None:
    same(b"\n".join(EDGE) + b"\n")
    same(b"\n".join(reversed(EDGE)))


@st.composite
def near_miss(draw: st.DrawFn) -> bytes:
    return splice(draw, draw(st.sampled_from([ALB, ELB])),
                  [b" ", b'"', b"\\", b"-", b"0", b"9", b".", b"\r", b"/", b"?", b"Z", b":", b"[",
                   b"-1", b"\xc3\xa9"])


@settings(max_examples=300, deadline=None)
@given(st.lists(near_miss() | st.sampled_from([ALB, ELB, *EDGE]), min_size=1, max_size=8))
def test_near_misses(lines: list[bytes]) -> None:
    same(b"\n".join(lines))


TARGETS = [b"HTTP://Shop.Example:443/A/1", b"http://u:p@h:80/x?y=1", b"http://h", b"http://h?x",
           b"http://h#f", b"http://h/a#b?c", b"http://[::1]:80/v6", b"http://h/t\tab",
           b"h.t-t+p://x/y", b"1http://x/y", b"://x/y", b"http:/x/y", b"http://h\xc3\xa9/p",
           b"http://h/p\xc3\xa9?q", b"*", b"/rel/1", b"http://h:99999999/port", b"http://h/%2F"]


def test_targets_split_as_urlsplit_splits_them() -> None:
    lines = [ELB.replace(b"http://www.example.com:80/", target) for target in TARGETS]
    same(b"\n".join(lines))
    assert aggregate_lb(b"\n".join(lines), AwsLbParser()).requests == len(TARGETS)
