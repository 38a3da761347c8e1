"""W3C extended logs as CloudFront and IIS write them (field lists from their documentation,
tests/data/SOURCES.md): directives, the `#Fields:` header deciding the layout (changing
mid-file), units, detection, and a header that lies in an earlier chunk than its lines."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from logctl.cli import app
from logctl.formats import FormatOptions
from logctl.formats.detect import detect_format
from logctl.formats.record import SKIP
from logctl.formats.w3c import W3cParser, last_fields
from logctl.metrics.points import aggregate_lines

CLOUDFRONT_FIELDS = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
    "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id "
    "x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher "
    "x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port "
    "time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len "
    "sc-range-start sc-range-end")
AGENT = "Mozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)"


def cloudfront_line(time: str, size: int, path: str, status: int, taken: str,
                    result: str = "Hit") -> str:
    fields = ["2019-12-04", time, "LAX1", str(size), "192.0.2.100", "GET",
              "d111111abcdef8.cloudfront.net", path, str(status), "-", AGENT, "-", "-", result,
              "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==",
              "d111111abcdef8.cloudfront.net", "https", "23", taken, "-", "TLSv1.2",
              "ECDHE-RSA-AES128-GCM-SHA256", result, "HTTP/2.0", "-", "-", "11040", taken,
              result, "text/html", "78", "-", "-"]
    return "\t".join(fields)


CLOUDFRONT = "\n".join([
    "#Version: 1.0", f"#Fields: {CLOUDFRONT_FIELDS}",
    cloudfront_line("21:02:31", 392, "/index.html", 200, "0.001"),
    cloudfront_line("21:02:31", 392, "/index.html", 200, "0.000"),
    cloudfront_line("21:02:44", 900, "/favicon.ico", 502, "0.102", "Error"),
    ""]).encode()
IIS_FIELDS = ("date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
              "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken")
IIS = "\n".join([
    "#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0",
    "#Date: 2019-06-10 00:00:00", f"#Fields: {IIS_FIELDS}",
    "2019-06-10 00:00:01 10.0.0.4 GET /default.htm - 80 - 203.0.113.5 "
    "Mozilla/5.0+(Windows+NT+10.0) - 200 0 0 15",
    "2019-06-10 00:00:02 10.0.0.4 GET /missing.htm - 80 - 203.0.113.5 "
    "Mozilla/5.0+(Windows+NT+10.0) - 404 0 2 3",
    "#Software: Microsoft Internet Information Services 10.0", "#Version: 1.0",
    "#Date: 2019-06-10 00:05:00",
    f"#Fields: {IIS_FIELDS} sc-bytes cs-host",
    "2019-06-10 00:05:01 10.0.0.4 POST /api/order - 443 - 203.0.113.9 curl/8.5 - 500 0 0 "
    "1200 4096 shop.example",
    "2019-06-10 00:05:02 10.0.0.4 GET /default.htm - 443 - 203.0.113.9 curl/8.5 - 200 0 0 "
    "8 2048 shop.example",
    ""]).encode()


def totals(data: bytes) -> tuple:
    aggregate = aggregate_lines(data, W3cParser())
    points = aggregate.points.values()
    return (aggregate.requests, sum(p.errors for p in points), sum(p.bytes for p in points),
            sum(aggregate.malformed.values()), max(p.latency_max for p in points))


def test_cloudfront_tabs_and_seconds() -> None:
    parse = W3cParser()
    assert parse(b"#Version: 1.0") is SKIP
    assert parse(f"#Fields: {CLOUDFRONT_FIELDS}".encode()) is SKIP
    record = parse(cloudfront_line("21:02:44", 900, "/favicon.ico", 502, "0.102").encode())
    assert record is not None
    assert (record.ts, record.method, record.path, record.status, record.bytes, record.rt_ms,
            record.host, record.client) == (1575493364.0, "GET", "/favicon.ico", 502, 900,
                                            102.0, "d111111abcdef8.cloudfront.net",
                                            "192.0.2.100")
    assert totals(CLOUDFRONT) == (3, 1, 1684, 0, 102.0)


def test_iis_spaces_milliseconds_and_a_header_that_changes_mid_file() -> None:
    assert totals(IIS) == (4, 1, 4096 + 2048, 0, 1200.0)
    aggregate = aggregate_lines(IIS, W3cParser())
    hosts: dict[str, int] = {}
    for key, point in aggregate.points.items():
        hosts[key[1]] = hosts.get(key[1], 0) + point.count
    assert hosts == {"": 2, "shop.example": 2}


def test_near_misses_are_malformed() -> None:
    parse = W3cParser()
    line = cloudfront_line("21:02:31", 392, "/", 200, "0.001").encode()
    assert parse(line) is None  # no #Fields: yet
    parse(f"#Fields: {CLOUDFRONT_FIELDS}".encode())
    assert parse(line) is not None
    assert parse(line.rsplit(b"\t", 1)[0]) is None  # a field short
    assert parse(line.replace(b"2019-12-04", b"2019-13-04")) is None
    assert parse(line.replace(b"\t200\t", b"\tOK\t")) is None
    assert parse(line.replace(b"\t0.001\t", b"\tfast\t", 1)) is None


@pytest.mark.parametrize("sample", [CLOUDFRONT, IIS])
def test_detected(sample: bytes) -> None:
    assert detect_format(sample, FormatOptions()).name == "w3c"


def test_the_last_fields_line_of_a_chunk() -> None:
    assert last_fields(IIS) == f"#Fields: {IIS_FIELDS} sc-bytes cs-host".encode()
    assert last_fields(b"2019-06-10 00:00:01 x\n") is None


def test_ingest_carries_the_header_to_later_chunks_and_resumes(
        runner: CliRunner, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 512 bytes: most hold no #Fields: line, yet every line is read by the one
    before it (the layout changes half way); lines appended later are read on the next run,
    which resumes after the header."""
    first = [f"2019-06-10 00:00:{i:02} 10.0.0.4 GET /page/{i} - 80 - 203.0.113.5 curl/8.5 - "
             f"{404 if i % 5 == 0 else 200} 0 0 {i}" for i in range(10)]
    second = [f"2019-06-10 00:05:{i:02} 10.0.0.4 GET /api - 443 - 203.0.113.9 curl/8.5 - "
              f"{500 if i % 4 == 0 else 200} 0 0 {i} {100 + i} shop.example" for i in range(10)]
    log = tmp_path / "u_ex190610.log"
    log.write_text("\n".join(["#Software: Microsoft Internet Information Services 10.0",
                              "#Version: 1.0", f"#Fields: {IIS_FIELDS}", *first,
                              f"#Fields: {IIS_FIELDS} sc-bytes cs-host", *second, ""]))
    monkeypatch.setenv("LOGCTL_CHUNK_SIZE", "512")
    done = runner.invoke(app, ["ingest", str(log)])
    assert done.exit_code == 0, done.output
    assert "format w3c" in done.output
    with open(log, "a") as more:
        more.write("2019-06-10 00:06:00 10.0.0.4 GET /late - 443 - 203.0.113.9 curl/8.5 - 503 "
                   "0 0 9 100 shop.example\n" * 3)
    again = runner.invoke(app, ["ingest", str(log)])
    assert again.exit_code == 0, again.output
    body = json.loads(runner.invoke(app, ["metrics", "--format", "json"]).stdout)
    assert (body["requests"], body["errors"], body["client_errors"], body["bytes"],
            body["malformed"]) == (23, 3 + 3, 2, sum(range(100, 110)) + 300, 0)
    assert body["latency_ms"]["max"] == 9.0


rows = st.lists(st.tuples(st.integers(0, 59), st.sampled_from(["GET", "POST", "HEAD"]),
                          st.integers(100, 599), st.integers(0, 10**9), st.integers(0, 10**6)),
                max_size=30)


@settings(max_examples=150, deadline=None)
@given(rows=rows, junk=st.lists(st.binary(max_size=80), max_size=5))
def test_any_rows_and_junk_add_up(rows: list, junk: list[bytes]) -> None:
    """Generated IIS rows (with sc-bytes) give their exact sums; junk lines are malformed
    or directives, never lost and never an exception."""
    header = f"#Fields: {IIS_FIELDS} sc-bytes".encode()
    lines = [header] + [
        f"2019-06-10 00:00:{s:02} 10.0.0.4 {m} /p - 80 - 1.2.3.4 ua - {status} 0 0 {ms} {size}"
        .encode() for s, m, status, size, ms in rows] + [j.replace(b"\n", b"") for j in junk]
    data = b"\n".join(lines) + b"\n"
    aggregate = aggregate_lines(data, W3cParser())
    points = aggregate.points.values()
    directives = sum(1 for line in lines if line.startswith(b"#"))
    assert aggregate.requests + sum(aggregate.malformed.values()) + directives == \
        aggregate.lines
    assert aggregate.requests >= len(rows)
    if not junk:
        assert aggregate.requests == len(rows)
        assert sum(p.bytes for p in points) == sum(r[3] for r in rows)
        assert sum(p.errors for p in points) == sum(1 for r in rows if r[2] >= 500)
