"""The CLF family parser over real edge cases."""

import pytest

from logctl.formats.combined import CombinedParser
from logctl.formats.record import Record

parse = CombinedParser()

REAL = (b'83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama'
        b'-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/present'
        b'ations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) '
        b'AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36"')


def test_real_combined_line() -> None:
    assert parse(REAL) == Record(
        ts=1431857103.0, method="GET",
        path="/presentations/logstash-monitorama-2013/images/kibana-search.png",
        status=200, bytes=203023, rt_ms=None, host="", client="83.149.9.216")


@pytest.mark.parametrize(("line", "expected"), [
    # IPv6 client
    (b'2001:db8::1 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.0" 200 2326',
     ("GET", "/a", 200, 2326, "2001:db8::1", 971211336.0)),
    # '-' size, common format
    (b'127.0.0.1 - frank [10/Oct/2000:13:55:36 +0000] "GET /b HTTP/1.0" 304 -',
     ("GET", "/b", 304, 0, "127.0.0.1", 971186136.0)),
    # odd method, missing protocol
    (b'10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "PROPFIND /dav" 207 10',
     ("PROPFIND", "/dav", 207, 10, "10.0.0.1", 971186136.0)),
    # non-UTC offset: +0530 is 5h30 ahead of UTC
    (b'10.0.0.1 - - [10/Oct/2000:19:25:36 +0530] "GET / HTTP/1.1" 200 1',
     ("GET", "/", 200, 1, "10.0.0.1", 971186136.0)),
    # junk request (TLS handshake on an HTTP port) is still a request with a status
    (b'10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "\\x16\\x03\\x01" 400 0 "-" "-"',
     ("-", "(invalid)", 400, 0, "10.0.0.1", 971186136.0)),
    # an empty request (a connection closed before it sent one)
    (b'10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "" 400 0 "-" "-"',
     ("-", "(invalid)", 400, 0, "10.0.0.1", 971186136.0)),
    # an X-Forwarded-For list as the client (nginx real_ip off, $proxy_add_x_forwarded_for)
    (b'10.0.0.2, 10.0.0.1, 127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /x HTTP/1.1" 200 '
     b'571 "-" "ua"', ("GET", "/x", 200, 571, "10.0.0.2, 10.0.0.1, 127.0.0.1", 971186136.0)),
    # IPv6 addresses in the list
    (b'2001:db8::2, ::1 - - [10/Oct/2000:13:55:36 +0000] "GET /6 HTTP/1.1" 200 1',
     ("GET", "/6", 200, 1, "2001:db8::2, ::1", 971186136.0)),
    # a quoted X-Forwarded-For before the client ("$http_x_forwarded_for" $remote_addr ...)
    (b'"203.0.113.7, 10.0.0.1" 127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /q HTTP/1.1" '
     b'200 2 "-" "ua"', ("GET", "/q", 200, 2, "127.0.0.1", 971186136.0)),
    (b'"-" 127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /q HTTP/1.1" 200 2 "-" "ua"',
     ("GET", "/q", 200, 2, "127.0.0.1", 971186136.0)),
    # a unix socket client
    (b'unix: - - [10/Oct/2000:13:55:36 +0000] "GET /u HTTP/1.1" 200 3 "-" "ua"',
     ("GET", "/u", 200, 3, "unix:", 971186136.0)),
    # escaped quotes inside the user agent
    (b'10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /q HTTP/1.1" 200 5 "-" '
     b'"Mozilla \\"quoted\\" agent"', ("GET", "/q", 200, 5, "10.0.0.1", 971186136.0)),
])
def test_edge_cases(line: bytes, expected: tuple) -> None:
    record = parse(line)
    assert record is not None
    assert (record.method, record.path, record.status, record.bytes, record.client,
            record.ts) == expected


@pytest.mark.parametrize(("tail", "unit", "ms"), [
    (b" 0.123", "auto", 123.0),      # nginx $request_time, seconds
    (b" 123456", "auto", 123.456),   # Apache %D, microseconds
    (b" 2", "s", 2000.0),            # Apache %T, seconds
    (b" 15", "ms", 15.0),
    (b' "upstream" 0.5', "auto", 500.0),
    # nginx main + $request_time $upstream_response_time: the request time counts
    (b" 0.250 0.240", "auto", 250.0),
    (b" 0.250 -", "auto", 250.0),
    (b" 0.250 0.100, 0.140", "auto", 250.0),
    (b" 0.250 0.100 : 0.140", "auto", 250.0),
    (b' 512 0.250 "-" "x"', "s", 512000.0),  # the first number, whatever its unit
])
def test_response_time_units(tail: bytes, unit: str, ms: float) -> None:
    line = REAL + tail
    record = CombinedParser(unit)(line)
    assert record is not None and record.rt_ms == pytest.approx(ms)


@pytest.mark.parametrize(("prefix", "host", "client"), [
    (b"www.example.com", "www.example.com", "10.0.0.1"),
    (b"www.example.com:8443", "www.example.com:8443", "10.0.0.1"),
    (b'www.example.com "198.51.100.9"', "www.example.com", "10.0.0.1"),
])
def test_vhost_before_a_forwarded_for_list(prefix: bytes, host: str, client: str) -> None:
    record = parse(prefix + b' 10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" '
                            b'200 1 "-" "ua" 0.5')
    assert record is not None and (record.host, record.client, record.rt_ms) == (
        host, client, 500.0)
    listed = parse(prefix + b' 198.51.100.9, 10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] '
                            b'"GET / HTTP/1.1" 200 1')
    assert listed is not None and (listed.host, listed.client) == (
        host, "198.51.100.9, 10.0.0.1")


def test_vhost_combined_carries_host() -> None:
    record = parse(b'www.example.com:443 10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] '
                   b'"GET / HTTP/1.1" 200 1 "-" "ua"')
    assert record is not None and record.host == "www.example.com:443"
    assert record.client == "10.0.0.1"


@pytest.mark.parametrize("line", [
    # truncated: user agent without closing quote (line 8899 of the Apache sample)
    REAL[:-10],
    b"not a log line at all",
    b'10.0.0.1 - - [32/Foo/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1',
    b'10.0.0.1 - - [10/Oct/2000:25:55:36 +0000] "GET / HTTP/1.1" 200 1',
    b'10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 2000 1',
    b"",
])
def test_malformed_lines_give_none(line: bytes) -> None:
    assert parse(line) is None


def test_invalid_utf8_in_path_is_replaced_not_fatal() -> None:
    record = parse(b'10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /caf\xe9 HTTP/1.1" 200 1')
    assert record is not None and record.path == "/caf\ufffd"
