"""The columnar JSON engine gives the same aggregate as JsonLinesParser line by line, and
takes the common lines itself rather than leaving them to that parser."""

import json
from array import array

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logctl.formats.fields import FieldMap
from logctl.formats.jsonl import JsonLinesParser
from logctl.formats.record import Record
from logctl.metrics import _groups, columnar
from logctl.metrics.columnar_json import aggregate_json
from logctl.metrics.points import aggregate_lines
from logctl.synthetic import generate
from tests.metrics.test_engines import canonical, splice


def same(data: bytes, fields: FieldMap | None = None) -> None:
    parser = JsonLinesParser(fields or FieldMap())
    fast = aggregate_json(data, parser.fields, parser)
    assert canonical(fast) == canonical(aggregate_lines(data, parser))


class Counting:
    """A JsonLinesParser that counts the lines it is asked to parse."""

    def __init__(self) -> None:
        self.parser = JsonLinesParser()
        self.calls = 0

    def __call__(self, line: bytes) -> Record | None:
        self.calls += 1
        return self.parser(line)


def test_generated_log() -> None:
    data = "".join(generate(5000, seed=5, per_minute=700, fmt="jsonl")).encode()
    same(data)
    parser = Counting()
    aggregate = aggregate_json(data, parser.parser.fields, parser)
    assert (aggregate.lines, aggregate.requests, parser.calls) == (5000, 5000, 0)


NGINX = ('{"time_iso8601":"2024-03-01T10:00:%02d+01:00","remote_addr":"2001:db8::1",'
         '"request_method":"%s","request_uri":"%s","status":"%s","body_bytes_sent":"%s",'
         '"request_time":"%s","http_user_agent":"Mozilla/5.0 (X11; \\"q\\")"}')


def test_nginx_json_with_values_as_strings() -> None:
    lines = [NGINX % (s, m, p, st, b, rt) for s, m, p, st, b, rt in [
        (1, "GET", "/a/1", "200", "512", "0.120"),
        (2, "POST", "/a/2?x=1", "503", "0", "1.5"),
        (3, "GET", "/b", "404", "-", "0.000"),
        (61, "GET", "/b", "1,200", "12", "abc"),
        (4, "", "GET /split HTTP/1.1", "200", "1", "0.1"),
        (5, "GET", "", "", "", ""),
    ]]
    same(("\n".join(lines) + "\n").encode())
    parser = Counting()
    aggregate = aggregate_json(("\n".join(lines[:3]) + "\n").encode(), FieldMap(), parser)
    assert (aggregate.requests, parser.calls) == (3, 0)
    assert sorted(key[4] for key in aggregate.points) == [200, 404, 503]


EDGE = [
    '{"ts": 971186136, "level": "error", "status": 404, "path": "/caddy-404"}',
    '{"ts": 971186136, "level": "error", "status": 0, "path": "/no-status"}',
    '{"time":"01/Jun/2025:00:00:00 +0000","method":"GET","path":"/x/1","status":200,'
    '"bytes":10,"duration_ms":9}',
    '{"time":"01/Jun/2025:00:00:01 +0000","method":"GET","path":"/x/2","status":500,'
    '"bytes":0,"duration_ms":1.5}',
    '{"time":"01/Jun/2025:00:00:02 +0000","method":"GET","path":"/x/2","status":200,'
    '"bytes":1,"duration_ms":-3}',
    '{"time":"01/Jun/2025:00:00:03 +0000","method":"GET","path":"/x/2","status":200,'
    '"bytes":123456789012345678901,"duration_ms":1e3}',
    '{"time":"01/Jun/2025:00:00:04 +0000","method":"GET","path":"/x/2","status":-0,'
    '"bytes":1,"duration_ms":null}',
    '{"time":"01/Jun/2025:00:00:05 +0000","method":null,"path":null,"status":null,'
    '"bytes":null,"duration_ms":2}',
    '{"time":"99/Jun/2025:00:00:05 +0000","method":"GET","path":"/bad-date","status":200,'
    '"bytes":1,"duration_ms":2}',
    '{"time":"01/Jun/2025:00:00:06 +0000","method":"GET","path":"/x/\\u00e9\\ud83d\\ude00",'
    '"status":200,"bytes":1,"duration_ms":2}',
    '{"time":"01/Jun/2025:00:00:06 +0000","method":"GET","path":"/x/\\ud800","status":200,'
    '"bytes":1,"duration_ms":2}',
    '{"time":"01/Jun/2025:00:00:06 +0000","method":"GET","path":"/q?a=1\\n#b","status":200,'
    '"bytes":1,"duration_ms":2}',
    '{"time":"01/Jun/2025:00:00:07 +0000","method":"GET","path":"/dup","status":200,'
    '"status":404,"bytes":1,"duration_ms":2}',
    '{"time":"01/Jun/2025:00:00:07 +0000","method":"GET","path":"/nested","status":200,'
    '"bytes":1,"duration_ms":2,"headers":{"a":1}}',
    '{"time":"01/Jun/2025:00:00:07 +0000","method":true,"path":"/bool","status":200}',
    '{"time":1717200000,"level":"error","msg":"db down"}',
    '{"time":1717200001.25,"level":"WARN","msg":"slow"}',
    '{"time":1717200062123,"level":"","msg":"ms epoch"}',
    '{"time":"2024-06-01T00:01:00.5Z","level":"crit","status":200}',
    '{"ts":"2024-06-01T00:01:00Z","level":"info","code":503,"status":"200"}',
    ' { "time" : "01/Jun/2025:00:00:08 +0000" , "method":"GET","path":"/sp","status":200,'
    '"bytes":1,"duration_ms":2 }\r',
    '{"time":"01/Jun/2025:00:00:09 +0000","method":"GET","path":"/tab\tx","status":200}',
    '{"time":"01/Jun/2025:00:00:09 +0000","method":"GET","path":"/nan","status":200,'
    '"bytes":NaN}',
    '{"time":"01/Jun/2025:00:00:09 +0000","method":"GET","path":"/trail","status":200,}',
    '["not", "an", "object"]',
    "garbage",
    "",
    "   ",
    '{"time":"01/Jun/2025:00:00:09 +0000","method":"GET","path":"/' + "u" * 70000 + '"}',
    '{"time":"01/Jun/2025:00:00:10 +0000","method":"GET","path":"/last","status":201,'
    '"bytes":7,"duration_ms":3}',
]


def test_edge_lines() -> None:
    data = "\n".join(EDGE).encode()
    same(data + b"\n")
    same(b"\n".join(reversed(data.split(b"\n"))))
    same(data.replace(b'/x/1"', b'/x/\xff"'))  # a line that is not UTF-8


def test_several_layouts_in_one_chunk() -> None:
    first = [f'{{"time":{1717200000 + i},"path":"/a/{i}","status":200}}' for i in range(100)]
    second = [f'{{"@timestamp":"2024-06-01T00:0{i % 10}:00Z","url":"/b","level":"error"}}'
              for i in range(100)]
    data = "\n".join(x for pair in zip(first, second, strict=True) for x in pair).encode()
    same(data)
    parser = Counting()
    assert aggregate_json(data, FieldMap(), parser).requests == 200
    assert parser.calls == 0


def test_field_overrides() -> None:
    fields = FieldMap({"status": "code", "latency:us": "took", "ts": "when"})
    data = b"\n".join(json.dumps({"when": f"2024-06-01T00:00:{i:02d}Z", "code": 200 + i,
                                  "took": i * 1000, "status": 1}).encode() for i in range(60))
    same(data, fields)
    parser = JsonLinesParser(fields)
    aggregate = aggregate_json(data, fields, parser)
    assert aggregate.requests == 60
    assert sum(p.latency_sum for p in aggregate.points.values()) == sum(range(60))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(EDGE), st.binary(max_size=60)), max_size=30))
def test_any_mix_of_lines(lines: list) -> None:
    same(b"\n".join(line.encode() if isinstance(line, str) else line.replace(b"\n", b" ")
                    for line in lines))


VALID = ('{"time":"01/Jun/2025:00:00:00 +0000","method":"GET","path":"/a/12?b","status":404,'
         '"bytes":2326,"duration_ms":0.25,"ua":"x \\"y\\""}')


NESTED_VALID = ('{"ts":1733300000.5241024,"request":{"method":"GET","uri":"/a/12?b",'
                '"headers":{"A":["x","y"],"B":[]}},"duration":0.000929675,"size":7,'
                '"status":404,"resp":{"S":[{"k":null}]}}')


@st.composite
def near_miss(draw: st.DrawFn, valid: str = VALID) -> bytes:
    """A valid line with a few bytes spliced in, replaced or cut: where the pattern and
    json.loads are most likely to disagree."""
    return splice(draw, valid.encode(),
                  [b" ", b'"', b"\\", b"{", b"}", b",", b":", b"-", b"0", b"9", b".", b"e", b"\r",
                   b"\\u", b"null", b"true", b"[1]"])


@settings(max_examples=300, deadline=None)
@given(st.lists(near_miss() | st.just(VALID.encode()), min_size=1, max_size=8))
def test_near_misses_of_a_valid_line(lines: list[bytes]) -> None:
    same(b"\n".join(lines))


@settings(max_examples=300, deadline=None)
@given(st.lists(near_miss(NESTED_VALID) | st.just(NESTED_VALID.encode()), min_size=1,
                max_size=8))
def test_near_misses_of_a_valid_nested_line(lines: list[bytes]) -> None:
    same(b"\n".join(lines))


@pytest.mark.parametrize("value", ["0", "7", "-5", "0.5", "12345678901234", "123.45678",
                                   "1.0", '"12"', '" 12"', '"1e2"', '"-1"', '"inf"'])
def test_numbers_read_like_json_loads(value: str) -> None:
    line = ('{"time":"01/Jun/2025:00:00:00 +0000","path":"/n","status":VALUE,'
            '"bytes":VALUE,"duration_ms":VALUE}').replace("VALUE", value)
    same((line + "\n" + line.replace("/n", "/m") + "\n").encode())


KEYS = ["time", "ts", "method", "path", "url", "status", "code", "bytes", "duration_ms",
        "request_time", "host", "level", "msg", "url.path"]
SCALARS = (st.none() | st.booleans() | st.integers(-10**20, 10**20)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
           | st.sampled_from(["01/Jun/2025:00:00:07 +0000", "2024-06-01T00:01:00Z", "200",
                              "GET", "/a/1?q", "error", "0.25", "", " ", "1,5", "\u2028"]))
TIMES = st.sampled_from(["01/Jun/2025:00:00:07 +0000", "2024-06-01T00:01:00.5+02:00",
                         1717200000, 1717200001.5, "1717200002", 0, "now"])


@st.composite
def json_line(draw: st.DrawFn) -> bytes:
    """A JSON object of log-like keys and values of any scalar type, written with any of
    json.dumps' spacings and escapings."""
    obj = {"time": draw(TIMES)}
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=6, unique=True)):
        obj[key] = draw(SCALARS)
    separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")]))
    return json.dumps(obj, separators=separators,
                      ensure_ascii=draw(st.booleans())).encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(json_line(), min_size=1, max_size=12), st.data())
def test_any_flat_objects(lines: list[bytes], data: st.DataObject) -> None:
    repeated = lines * data.draw(st.integers(1, 3))  # layouts that repeat take the fast path
    same(b"\n".join(repeated))


CADDY = ('{"level":"info","ts":1733300000.%07d,"logger":"http.log.access.log0",'
         '"msg":"handled request","request":{"remote_ip":"127.0.0.1","remote_port":"5%04d",'
         '"client_ip":"127.0.0.1","proto":"HTTP/1.1","method":"%s","host":"localhost:8080",'
         '"uri":"%s","headers":{%s},"tls":{"resumed":false,"version":772}},'
         '"bytes_read":0,"user_id":"","duration":%s,"size":%d,"status":%d,'
         '"resp_headers":{"Server":["Caddy"],"Content-Type":["text/plain; charset=utf-8"]}}')
HEADERS = ['"User-Agent":["curl/8.4.0"],"Accept":["*/*"]', "",
           '"Accept-Encoding":["gzip", "br"],"X-Forwarded-For":["10.0.0.1"],"Empty":[]']


def test_nested_objects_take_the_fast_path() -> None:
    """Caddy's access log: the request's method, uri and host nested one level down, and
    a header map that differs from line to line."""
    lines = [CADDY % (n * 7919 % 10**7, n, ("GET", "POST")[n % 2], f"/users/{n}?q=1",
                      HEADERS[n % 3], ("0.000929675", "1.5", "0.0123456789012345")[n % 3],
                      n * 10, (200, 404, 502)[n % 3])
             for n in range(300)]
    data = ("\n".join(lines) + "\n").encode()
    same(data)
    parser = Counting()
    aggregate = aggregate_json(data, FieldMap(), parser)
    assert (aggregate.requests, parser.calls) == (300, 0)
    assert sum(point.bytes for point in aggregate.points.values()) == sum(range(0, 3000, 10))
    assert {key[1] for key in aggregate.points} == {"localhost:8080"}


ECS = ('{"@timestamp":"2024-06-01T00:%02d:00.5Z","event":{"dataset":"nginx.access"},'
       '"http":{"request":{"method":"GET"},"response":{"status_code":%d,'
       '"body":{"bytes":%d}}},"url":{"path":"/a/%d"},"service":{"name":"shop"},'
       '"event.duration_ms":%d}')


def test_ecs_nested_keys_and_a_nested_override() -> None:
    lines = [ECS % (n % 60, (200, 500)[n % 2], n, n, n) for n in range(200)]
    data = ("\n".join(lines) + "\n").encode()
    fields = FieldMap({"latency": "event.duration_ms", "path": "url.path"})
    same(data, fields)
    parser = Counting()
    aggregate = aggregate_json(data, JsonLinesParser(fields).fields, parser)
    assert (aggregate.requests, parser.calls) == (200, 0)
    assert sum(p.errors for p in aggregate.points.values()) == 100
    assert sum(p.bytes for p in aggregate.points.values()) == sum(range(200))
    assert sum(p.latency_sum for p in aggregate.points.values()) == sum(range(200))
    assert {key[1] for key in aggregate.points} == {"shop"}


NESTED_KEYS = ["request.method", "request.uri", "request.host", "http.response.status_code",
               "http.response.body.bytes", "url.path", "service.name", "duration",
               "log.level", "request.headers.ua", "a.b.c.d"]
ANY_JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                        max_leaves=6)


@st.composite
def nested_json_line(draw: st.DrawFn) -> bytes:
    """A JSON object with log-like values at dotted paths (nested objects), and values of
    any JSON kind and depth beside them."""
    obj: dict = {"ts": draw(TIMES)}
    for key in draw(st.lists(st.sampled_from(NESTED_KEYS), max_size=6, unique=True)):
        *heads, leaf = key.split(".")
        node = obj
        for head in heads:
            child = node.setdefault(head, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[leaf] = draw(SCALARS | ANY_JSON)
    separators = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    return json.dumps(obj, separators=separators,
                      ensure_ascii=draw(st.booleans())).encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(nested_json_line(), min_size=1, max_size=10), st.data())
def test_any_nested_objects(lines: list[bytes], data: st.DataObject) -> None:
    repeated = lines * data.draw(st.integers(1, 3))
    same(b"\n".join(repeated))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=2e9, allow_nan=False), min_size=50,
                max_size=200))
def test_float_times_and_durations_read_like_json_loads(values: list[float]) -> None:
    """The shortest reprs of any float, as epochs and as durations in seconds: polars'
    reader and json.loads round them alike."""
    lines = [json.dumps({"ts": 1.7e9 + value, "path": "/f", "status": 200,
                         "duration": value / 1e9}) for value in values]
    same("\n".join(lines).encode())


@pytest.mark.parametrize("per_minute", [700, 10_000])
def test_native_and_polars_grouping_make_the_same_groups(
        per_minute: int, monkeypatch: pytest.MonkeyPatch) -> None:
    data = "".join(generate(20_000, seed=9, per_minute=per_minute, fmt="jsonl")).encode()
    parser = JsonLinesParser()
    native = aggregate_json(data, parser.fields, parser)
    monkeypatch.setattr(columnar, "_groups", None)
    grouped = aggregate_json(data, parser.fields, parser)
    assert len(native.groups[0]) == len(grouped.groups[0]) == (
        {700: 3835, 10_000: 778}[per_minute])
    assert native.requests == grouped.requests == 20_000
    assert canonical(native) == canonical(grouped)


def group_frame(rows: list[tuple]) -> pl.DataFrame:
    """group_points rows: minute, host, method, route_pre, status, size, rt_ms, error,
    client_error, ts, bin."""
    names = ["minute", "host", "method", "route_pre", "status", "size", "rt_ms", "error",
             "client_error", "ts", "bin"]
    return pl.DataFrame(rows, schema=dict(zip(names, [
        pl.Int64, pl.String, pl.String, pl.String, pl.Int64, pl.Int64, pl.Float64,
        pl.Boolean, pl.Boolean, pl.Float64, pl.Int32], strict=True)), orient="row")


def test_native_grouping_sums_each_key() -> None:
    frame = group_frame([
        (60, "", "GET", "/a", 200, 10, 5.0, False, False, 61.5, 7),
        (60, "", "GET", "/b", 503, 1, None, True, False, 62.0, None),
        (60, "", "GET", "/a", 200, 30, 2.0, False, False, 60.25, 3),
        (60, "", "GET", "/a", 200, 5, 5.0, False, False, 119.0, 7),
    ])
    assert columnar._grouped_natively(frame) == [
        (60, "", "GET", "/a", 200, (3, 0, 0, 45, 3, 12.0, 5.0, 60.25, 119.0),
         array("i", [3, 1, 7, 2]).tobytes()),
        (60, "", "GET", "/b", 503, (1, 1, 0, 1, 0, 0.0, 0.0, 62.0, 62.0), None),
    ]
    assert sorted(columnar._grouped_natively(frame)) == sorted(columnar._grouped(frame))


def test_native_grouping_refuses_columns_it_cannot_read() -> None:
    frame = group_frame([(60, "", "GET", "/a", 200, 10, 5.0, False, False, 61.5, 7)])
    two_chunks = pl.concat([frame["size"], frame["size"]], rechunk=False)
    first = pl.Series([0], dtype=pl.UInt32)
    with pytest.raises(TypeError, match="column size: Arrow format 'g'"):
        _groups.group([(60, "", "GET", "/a", 200)], first, frame["error"].cast(pl.UInt8),
                      frame["client_error"].cast(pl.UInt8), frame["rt_ms"], frame["rt_ms"],
                      frame["bin"], frame["ts"])
    with pytest.raises(ValueError, match="more than one chunk"):
        _groups.group([(60, "", "GET", "/a", 200)], first, frame["error"].cast(pl.UInt8),
                      frame["client_error"].cast(pl.UInt8), two_chunks, frame["rt_ms"],
                      frame["bin"], frame["ts"])
    with pytest.raises(ValueError, match="first rows do not match the keys"):
        _groups.group([], first, frame["error"].cast(pl.UInt8),
                      frame["client_error"].cast(pl.UInt8), frame["size"], frame["rt_ms"],
                      frame["bin"], frame["ts"])


@pytest.mark.parametrize("end", ["\n", "\r\n"])
@pytest.mark.parametrize("last", ["", "unterminated"])
def test_a_chunk_whose_every_line_matches_reads_alike(end: str, last: str) -> None:
    """Every line of one shape: the engine reads the chunk itself rather than the lines
    joined again, whatever ends its lines."""
    lines = "".join(generate(300, seed=4, per_minute=700, fmt="jsonl")).splitlines()
    data = (end.join(lines) + ("" if last else end)).encode()
    same(data)
    parser = Counting()
    aggregate = aggregate_json(data, parser.parser.fields, parser)
    assert (aggregate.lines, aggregate.requests, parser.calls) == (300, 300, 0)
