"""HAProxy's HTTP log: the documentation's example line, its syslog-wrapped form, aborted
requests, and what auto-detection makes of them."""

import pytest

from logctl.formats import FormatOptions
from logctl.formats.detect import detect_format
from logctl.formats.haproxy import HaproxyParser

parse = HaproxyParser()
# The example of HAProxy's configuration manual, section 8.2.3 (HTTP log format).
DOC = (b'10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 '
       b'- - ---- 1/1/1/1/0 0/0 {1wt.eu} {} "GET /index.html HTTP/1.1"')


def test_the_documented_example() -> None:
    record = parse(DOC)
    assert record is not None
    assert (record.ts, record.method, record.path, record.status, record.bytes, record.rt_ms,
            record.host, record.client) == (1233922454.0, "GET", "/index.html", 200, 2750,
                                            109.0, "http-in/static", "10.0.1.2")


@pytest.mark.parametrize("prefix", [
    b"Feb  6 12:14:14 localhost haproxy[14389]: ",  # RFC 3164, as rsyslog writes it
    b"<134>1 2009-02-06T12:14:14.655+00:00 lb haproxy 14389 - - ",  # RFC 5424 header
])
def test_through_syslog(prefix: bytes) -> None:
    record = parse(prefix + DOC)
    assert record is not None and (record.status, record.rt_ms) == (200, 109.0)


def test_an_aborted_request_has_status_0_and_no_latency() -> None:
    line = (b'10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in~ api/<NOSRV> 5/-1/-1/-1/-1 -1 0 '
            b'- - CR-- 1/1/0/0/0 0/0 "<BADREQ>"')
    record = parse(line)
    assert record is not None
    assert (record.status, record.rt_ms, record.host, record.path) == (0, None, "http-in/api",
                                                                        "(invalid)")


@pytest.mark.parametrize("line", [
    DOC.replace(b"200 2750", b"200 " + b"9" * 16),
    DOC.replace(b"2009", b"1969"),
    DOC[:-5],
    b"10.0.1.2:33317 [06/Feb/2009:12:14:14.655] tcp-in srv/s1 0/0/5 200 0 -- 1/1/1/1/0 0/0",
])
def test_malformed(line: bytes) -> None:
    assert parse(line) is None


def test_auto_detect_picks_haproxy_over_syslog() -> None:
    sample = b"\n".join(b"Feb  6 12:14:14 lb haproxy[1]: " + DOC for _ in range(5)) + b"\n"
    assert detect_format(sample, FormatOptions()).name == "haproxy"
