"""JSON lines, logfmt, syslog and user regex parsers."""

import pytest

from logctl.errors import ParseError, UsageError
from logctl.formats import fields as fields_module
from logctl.formats.fields import FieldMap, parse_overrides
from logctl.formats.jsonl import JsonLinesParser
from logctl.formats.logfmt import LogfmtParser
from logctl.formats.regex import compile_pattern
from logctl.formats.syslog import SyslogParser

NOW = 1764082045.0  # 2025-11-25T14:47:25Z


def test_nginx_json_line() -> None:
    line = (b'{"time_local":"25/Nov/2025:14:00:00 +0000","remote_addr":"10.1.1.1",'
            b'"request":"GET /api/x?y=1 HTTP/1.1","status":"502","body_bytes_sent":"17",'
            b'"request_time":"0.250","host":"api.example"}')
    record = JsonLinesParser()(line)
    assert record is not None
    assert (record.ts, record.method, record.path, record.status, record.bytes, record.rt_ms,
            record.host, record.client) == (1764079200.0, "GET", "/api/x?y=1", 502, 17, 250.0,
                                            "api.example", "10.1.1.1")


def test_json_iso_time_and_duration_ms_and_nested_fields() -> None:
    line = (b'{"@timestamp":"2025-11-25T14:00:00.500Z","http":{"request":{"method":"POST"},'
            b'"response":{"status_code":201}},"url":{"path":"/o"},"duration_ms":12.5}')
    record = JsonLinesParser()(line)
    assert record is not None
    assert (record.ts, record.method, record.path, record.status, record.rt_ms) == (
        1764079200.5, "POST", "/o", 201, 12.5)


def test_json_field_overrides() -> None:
    fields = FieldMap(parse_overrides(["ts=when", "status=code", "latency:s=took"]))
    record = JsonLinesParser(fields)(b'{"when": 1764079200, "code": 404, "took": 0.5}')
    assert record is not None
    assert (record.ts, record.status, record.rt_ms) == (1764079200.0, 404, 500.0)


def test_one_parser_reads_lines_of_different_layouts_each_by_its_own_keys(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Candidate keys are worked out once per key layout; a line with another layout, an
    empty value or a nested one where text is expected falls to the next candidate as
    it would without the cache, and the cache stays bounded."""
    monkeypatch.setattr(fields_module, "MAX_LAYOUTS", 2)
    parse = JsonLinesParser()
    lines = [
        b'{"time":1764079200,"status":200,"path":"/a","duration_ms":5}',
        b'{"ts":1764079260,"code":404,"uri":"/b","request_time":"0.5","status":""}',
        b'{"time":1764079320,"status":{"x":1},"code":503,"url":{"path":"/c"},"rt":"2"}',
        b'{"time":1764079380,"status":201,"path":"/d","duration_ms":5}',
        b'{"time":1764079440,"status":500,"path":"/e","duration_ms":-1,"latency":0.25}',
    ]
    records = [parse(line) for line in lines]
    assert [(r.ts, r.status, r.path, r.rt_ms) for r in records if r is not None] == [
        (1764079200.0, 200, "/a", 5.0), (1764079260.0, 404, "/b", 500.0),
        (1764079320.0, 503, "/c", 2000.0), (1764079380.0, 201, "/d", 5.0),
        (1764079440.0, 500, "/e", 250.0)]
    assert len(parse.fields.layouts) <= 2


@pytest.mark.parametrize("line", [b"{", b"[1,2]", b'{"msg":"no time"}', b"plain text",
                                  b'{"time": "not a time"}', b"[" * 100000])
def test_json_malformed(line: bytes) -> None:
    assert JsonLinesParser()(line) is None


def test_bad_override_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        parse_overrides(["nonsense"])
    with pytest.raises(UsageError):
        parse_overrides(["latency:fortnights=x"])


def test_logfmt_line() -> None:
    line = (b'time=2025-11-25T14:00:00Z level=error method=GET path=/api/items/7 status=500 '
            b'bytes=321 duration_ms=12.5 msg="request \\"failed\\""')
    record = LogfmtParser()(line)
    assert record is not None
    assert (record.ts, record.method, record.path, record.status, record.bytes, record.rt_ms,
            record.severity) == (1764079200.0, "GET", "/api/items/7", 500, 321, 12.5, 3)


def test_logfmt_level_only_event() -> None:
    record = LogfmtParser()(b"ts=2025-11-25T14:00:00Z level=warn msg=disk")
    assert record is not None and (record.method, record.severity) == ("warning", 4)


def test_rfc5424() -> None:
    line = b"<165>1 2025-11-25T14:00:01.003Z web01 sshd 1234 ID47 - accepted key"
    record = SyslogParser(NOW)(line)
    assert record is not None
    assert (record.ts, record.host, record.path, record.method, record.severity) == (
        1764079201.003, "web01", "sshd", "notice", 5)


def test_rfc5424_structured_data() -> None:
    line = b'<11>1 2025-11-25T14:00:01Z h app - - [exampleSDID@32473 iut="3"] boom'
    record = SyslogParser(NOW)(line)
    assert record is not None and record.severity == 3 and record.method == "err"


def test_rfc3164_year_inferred_from_now() -> None:
    record = SyslogParser(NOW)(b"<34>Nov 25 09:00:02 web01 su[211]: 'su root' failed")
    assert record is not None
    assert (record.ts, record.host, record.path, record.severity) == (
        1764061202.0, "web01", "su", 2)
    # A December line read in late November is from last year.
    december = SyslogParser(NOW)(b"<34>Dec 31 23:59:59 web01 cron: x")
    assert december is not None and december.ts == 1767225599.0 - 365 * 86400


def test_rfc3164_file_form_without_pri() -> None:
    record = SyslogParser(NOW)(b"2025-11-25T14:00:00.123456+00:00 host kernel: oops")
    assert record is not None and record.severity is None and record.path == "kernel"


@pytest.mark.parametrize("line", [b"<999>1 2025-11-25T14:00:01Z h a - - - x", b"hello",
                                  b"<34>Foo 25 09:00:02 web01 su: x"])
def test_syslog_malformed(line: bytes) -> None:
    assert SyslogParser(NOW)(line) is None


def test_user_regex() -> None:
    parser = compile_pattern(r"^(?P<ts>\S+) (?P<method>\w+) (?P<path>\S+) -> (?P<status>\d+) "
                             r"in (?P<duration_ms>[\d.]+)ms$", FieldMap())
    record = parser(b"2025-11-25T14:00:00Z GET /x -> 503 in 7.5ms")
    assert record is not None
    assert (record.ts, record.method, record.path, record.status, record.rt_ms) == (
        1764079200.0, "GET", "/x", 503, 7.5)
    assert parser(b"something else") is None


@pytest.mark.parametrize("pattern", ["(unclosed", r"(?P<status>\d+)"])
def test_bad_user_regex(pattern: str) -> None:
    with pytest.raises(ParseError):
        compile_pattern(pattern, FieldMap())


# The access log entry of Caddy's documentation (caddyserver.com/docs/logging): nested
# request fields, the duration in seconds.
CADDY = (b'{"level":"info","ts":1646861401.5241024,"logger":"http.log.access.log0","msg":'
         b'"handled request","request":{"remote_ip":"127.0.0.1","remote_port":"41342",'
         b'"proto":"HTTP/2.0","method":"GET","host":"localhost","uri":"/","headers":{'
         b'"User-Agent":["curl/7.82.0"],"Accept":["*/*"]},"tls":{"resumed":false,'
         b'"version":772,"cipher_suite":4865,"proto":"h2","server_name":"example.com"}},'
         b'"bytes_read":0,"user_id":"","duration":0.000929675,"size":10900,"status":200,'
         b'"resp_headers":{"Server":["Caddy"],"Content-Type":["text/html; charset=utf-8"]}}')


def test_caddy_access_log_reads_its_nested_request() -> None:
    from logctl.formats.jsonl import JsonLinesParser

    record = JsonLinesParser()(CADDY)
    assert record is not None
    assert (record.ts, record.method, record.path, record.status, record.bytes,
            record.rt_ms, record.host, record.client) == (
        1646861401.5241024, "GET", "/", 200, 10900, pytest.approx(0.929675), "localhost",
        "127.0.0.1")
