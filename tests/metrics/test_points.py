"""Aggregation of lines into points: exact counters, malformed placement, merges."""

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from logctl.formats.combined import CombinedParser
from logctl.metrics.points import ChunkAggregate, aggregate_lines
from tests.metrics.test_engines import LatencySum

parse = CombinedParser()


def line(minute: int, status: int, size: int, rt: str, path: str = "/a/1") -> bytes:
    return (f'1.1.1.1 - - [10/Oct/2000:13:{minute:02d}:36 +0000] "GET {path} HTTP/1.1" '
            f'{status} {size} "-" "ua" {rt}').encode()


def test_counters_per_minute_and_series() -> None:
    data = b"\n".join([line(1, 200, 10, "0.010"), line(1, 200, 5, "0.030"),
                       line(1, 503, 0, "1.000"), line(2, 404, 7, "0.002")]) + b"\n"
    aggregate = aggregate_lines(data, parse)
    minute1 = 971182860
    ok = aggregate.points[(minute1, "", "GET", "/a/:id", 200)]
    assert (ok.count, ok.errors, ok.client_errors, ok.bytes, ok.latency_count) == (2, 0, 0, 15, 2)
    assert ok.latency_sum == 40.0 and ok.latency_max == 30.0
    assert aggregate.points[(minute1, "", "GET", "/a/:id", 503)].errors == 1
    assert aggregate.points[(minute1 + 60, "", "GET", "/a/:id", 404)].client_errors == 1
    assert aggregate.lines == 4 and aggregate.requests == 4


def test_malformed_lines_are_placed_next_to_good_ones() -> None:
    data = b"junk0\n" + line(1, 200, 1, "0.1") + b"\njunk1\r\n\n" + line(2, 200, 1, "0.1") + b"\n"
    aggregate = aggregate_lines(data, parse)
    assert aggregate.malformed == {971182860: 2}
    assert aggregate.samples == ["junk0", "junk1"]
    assert aggregate.lines == 4  # the blank line is not a line of the log
    assert aggregate_lines(b"junk\n", parse).malformed == {None: 1}


statuses = st.sampled_from([200, 301, 404, 500, 503])
entries = st.lists(st.tuples(st.integers(0, 5), statuses, st.integers(0, 10**6),
                             st.sampled_from(["0.001", "0.250", "3.5", "0.000"]),
                             st.sampled_from(["/x", "/y/12", "junk"])), max_size=40)


def to_bytes(items: list) -> bytes:
    return b"".join((b"garbage" if path == "junk" else line(m, s, b, rt, path)) + b"\n"
                    for m, s, b, rt, path in items)


def canonical(aggregate: ChunkAggregate) -> tuple:
    points = {k: (*p.as_tuple()[:5], LatencySum(p.as_tuple()[5]), *p.as_tuple()[6:])
              for k, p in aggregate.points.items()}
    return points, aggregate.lines, aggregate.requests, sum(aggregate.malformed.values())


@settings(max_examples=150, deadline=None)
@given(a=entries, b=entries)
def test_merge_equals_aggregating_the_union(a: list, b: list) -> None:
    merged = aggregate_lines(to_bytes(a), parse)
    merged.merge(aggregate_lines(to_bytes(b), parse))
    assert canonical(merged) == canonical(aggregate_lines(to_bytes(a + b), parse))


def test_a_point_pickles_its_histogram_packed_and_reads_it_back() -> None:
    data = b"\n".join([line(1, 200, 10, "0.010"), line(1, 200, 5, "0.030")]) + b"\n"
    point = next(iter(aggregate_lines(data, parse).points.values()))
    copy = pickle.loads(pickle.dumps(point))
    assert copy.as_tuple() == point.as_tuple()
    assert copy.encoded_hist() == point.encoded_hist()
    copy.merge(point)
    assert sum(copy.hist.values()) == 4


def test_a_status_decides_and_the_level_only_without_one() -> None:
    """Caddy logs a 404 at level error: a 4xx, not an error. An event (no HTTP status) at
    level error is an error."""
    from logctl.formats.jsonl import JsonLinesParser

    lines = (b'{"ts": 971186136, "level": "error", "status": 404, "method": "GET", "path": "/a"}\n'
             b'{"ts": 971186136, "level": "error", "status": 502, "method": "GET", "path": "/a"}\n'
             b'{"ts": 971186136, "level": "error", "msg": "disk gone"}\n'
             b'{"ts": 971186136, "level": "info", "msg": "started"}\n')
    result = aggregate_lines(lines, JsonLinesParser())
    points = list(result.points.values())
    assert (sum(p.count for p in points), sum(p.errors for p in points),
            sum(p.client_errors for p in points)) == (4, 2, 1)


def test_a_default_host_goes_to_records_that_name_none() -> None:
    lines = (b'1.2.3.4 - - [25/Nov/2026:09:00:01 +0000] "GET /a HTTP/1.1" 200 5\n'
             b'1.2.3.4 - - [25/Nov/2026:09:00:02 +0000] "GET /a HTTP/1.1" 200 7\n')
    aggregate = aggregate_lines(lines, CombinedParser())
    named = aggregate_lines(b'web1 1.2.3.4 - - [25/Nov/2026:09:00:03 +0000] "GET /a HTTP/1.1"'
                            b' 200 11\n', CombinedParser())
    aggregate.merge(named)
    aggregate.default_host("web1")
    assert {key[1]: (p.count, p.bytes) for key, p in aggregate.points.items()} == {
        "web1": (3, 23)}


def test_a_dense_histogram_merges_and_reads_as_its_dict() -> None:
    from logctl.metrics import dense, sketch
    from logctl.metrics.points import dense_point, point_from

    counters = (3, 0, 1, 30, 3, 60.0, 30.0, 100.0, 110.0)
    a = {sketch.bin_index(10.0): 1, sketch.bin_index(20.0): 1}
    b = {sketch.bin_index(30.0): 1}
    both = dense_point(counters, dense.encode(a))
    both.merge(dense_point(counters, dense.encode(b)))  # dense with dense: stays packed
    assert both.quantiles([0.5, 1.0]) == [sketch.bin_value(sketch.bin_index(ms))
                                          for ms in (20.0, 30.0)]
    assert both.hist == {**a, **b}
    mixed = dense_point(counters, dense.encode(a))
    mixed.merge(point_from(counters, sketch.encode(b)))  # dense with sparse: as dicts
    assert mixed.hist == {**a, **b}
    assert sketch.decode(dense_point(counters, dense.encode(a)).encoded_hist()) == a
    assert dense_point(counters, None).quantiles([0.5]) == [None]
