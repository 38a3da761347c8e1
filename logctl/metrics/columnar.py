"""The columnar engine for the CLF family: the same aggregate as `aggregate_lines` with a
CombinedParser, computed with polars over a whole chunk (regex in Rust, group-by in
Rust), with Python touching only unique values and the few lines polars leaves.

Exactness: the pattern here accepts a strict subset of what CombinedParser accepts and
extracts the same fields; every line it does not take goes through CombinedParser. Minute
stamps, routes and histogram bins are computed by the same Python functions, once per
unique value, so the points are identical (latency sums up to float rounding).
"""

import polars as pl

from logctl.formats.combined import RT_UNITS
from logctl.formats.record import LineParser
from logctl.formats.timestamps import clf_minute
from logctl.metrics import sketch
from logctl.metrics.points import (
    MAX_LINE,
    ChunkAggregate,
    Point,
    add_record,
    parse_bounded,
    strip_eol,
)
from logctl.metrics.route import fold_route

_NS = r"[^ \t\n\r\f\v]"
# Captures, without an end anchor: an anchored pattern with captures is several times
# slower in Rust's regex engines, so whole-line validity is checked by FULL (no captures,
# run by a DFA). Both start alike, so on a line FULL accepts they capture the same.
PATTERN = (
    rf'^[^ \t\n\r\f\v"\[]+ {_NS}+ {_NS}+ '
    r"\[([0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}):([0-9]{2}) ([+-][0-9]{4})\] "
    r'"([A-Z]+) ([^ "\\]+) HTTP/[0-9.]+" ([0-9]{3}) ([0-9]+|-)'
    r'(?: "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*"(?: ([0-9]+(?:\.[0-9]+)?))?)?'
)
FULL = PATTERN + r"\r?$"
GROUPS = ["stamp", "sec", "tz", "method", "path", "status", "size", "rt"]
KEY = ["minute", "method", "route", "status"]


def aggregate_clf(data: bytes, rt_unit: str, fallback: LineParser) -> ChunkAggregate:
    """Aggregate a chunk of CLF lines; `fallback` parses the lines the pattern leaves."""
    raw = data.split(b"\n")
    if raw and not raw[-1]:
        raw.pop()
    if not raw:
        return ChunkAggregate()
    frame = _extract(raw if _decodes(data) else _blank_invalid(raw))
    frame = _join_unique(frame, rt_unit)
    good = frame.filter(pl.col("minute").is_not_null())
    result = ChunkAggregate(lines=good.height)
    _points(good, result)
    _fallback(raw, frame, good.height, fallback, result)
    return result


def _extract(raw: list[bytes]) -> pl.DataFrame:
    """One row per line with the pattern's groups (null where it did not match)."""
    lines = pl.Series("line", raw, dtype=pl.Binary).cast(pl.Utf8)
    frame = pl.DataFrame({"line": lines}).with_row_index("i")
    return frame.select(
        "i",
        pl.col("line").str.len_bytes().alias("length"),
        pl.col("line").str.contains(FULL).alias("whole"),
        pl.col("line").str.extract_groups(PATTERN).struct.rename_fields(GROUPS).alias("g"),
    ).unnest("g")


def _blank_invalid(raw: list[bytes]) -> list[bytes]:
    """The lines, with those that are not UTF-8 blanked so the line parser takes them."""
    return [line if _decodes(line) else b"" for line in raw]


def _decodes(line: bytes) -> bool:
    try:
        line.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _join_unique(frame: pl.DataFrame, rt_unit: str) -> pl.DataFrame:
    """Minutes, routes and latency bins, computed in Python once per unique value."""
    stamps = frame.select("stamp", "tz").drop_nulls().unique()
    minutes = pl.DataFrame(
        {"stamp": stamps["stamp"], "tz": stamps["tz"],
         "minute": [clf_minute(f"{s}|{t}") for s, t in stamps.iter_rows()]},
        schema={"stamp": pl.Utf8, "tz": pl.Utf8, "minute": pl.Int64})
    paths = frame["path"].drop_nulls().unique()
    routes = pl.DataFrame({"path": paths, "route": [fold_route(p) for p in paths]},
                          schema={"path": pl.Utf8, "route": pl.Utf8})
    rts = frame["rt"].drop_nulls().unique()
    values = [_rt_ms(raw, rt_unit) for raw in rts]
    bins = pl.DataFrame({"rt": rts, "rt_ms": values, "bin": [sketch.bin_index(v) for v in values]},
                        schema={"rt": pl.Utf8, "rt_ms": pl.Float64, "bin": pl.Int64})
    ok = pl.col("whole") & (pl.col("sec").cast(pl.Int64) <= 60) & (pl.col("length") <= MAX_LINE)
    return (
        frame.join(minutes, on=["stamp", "tz"], how="left")
        .join(routes, on="path", how="left")
        .join(bins, on="rt", how="left")
        .with_columns(pl.when(ok).then(pl.col("minute")).alias("minute"))
        .sort("i")
    )


def _rt_ms(raw: str, rt_unit: str) -> float:
    """A response-time field in ms, as CombinedParser.response_time reads it."""
    scale = RT_UNITS[rt_unit]
    if scale is None:
        scale = 1000.0 if "." in raw else 0.001
    return float(raw) * scale


def _points(good: pl.DataFrame, result: ChunkAggregate) -> None:
    """Group the matched lines into points and their histograms."""
    status = pl.col("status").cast(pl.Int64)
    good = good.with_columns(
        status.alias("status"),
        (pl.col("minute") + pl.col("sec").cast(pl.Int64)).alias("ts"),
        pl.when(pl.col("size") == "-").then(0).otherwise(pl.col("size").cast(pl.Int64))
        .alias("size"),
    )
    counters = good.group_by(KEY).agg(
        pl.len().alias("count"),
        (pl.col("status") >= 500).sum().alias("errors"),
        ((pl.col("status") >= 400) & (pl.col("status") < 500)).sum().alias("client_errors"),
        pl.col("size").sum().alias("bytes"),
        pl.col("rt_ms").count().alias("latency_count"),
        pl.col("rt_ms").sum().alias("latency_sum"),
        pl.col("rt_ms").max().fill_null(0.0).alias("latency_max"),
        pl.col("ts").min().alias("first"),
        pl.col("ts").max().alias("last"),
    )
    points = result.points
    for minute, method, route, code, *values in counters.iter_rows():
        point = points[(minute, "", method, route, code)] = Point()
        (point.count, point.errors, point.client_errors, point.bytes, point.latency_count,
         point.latency_sum, point.latency_max, point.first, point.last) = values
    hist = (good.filter(pl.col("bin").is_not_null()).group_by([*KEY, "bin"]).len()
            .group_by(KEY).agg("bin", "len"))
    for minute, method, route, code, bins, counts in hist.iter_rows():
        points[(minute, "", method, route, code)].hist = dict(zip(bins, counts, strict=True))


def _fallback(raw: list[bytes], frame: pl.DataFrame, matched: int, parse: LineParser,
              result: ChunkAggregate) -> None:
    """Parse the lines the pattern left with the line parser, and place malformed lines
    at the minute of the nearest good line before them (after them at the chunk start)."""
    if matched == frame.height:
        return
    left = frame.filter(pl.col("minute").is_null())["i"].to_list()
    minutes = frame["minute"].to_list()
    bad: list[tuple[int, bytes]] = []
    for i in left:
        line = strip_eol(raw[i])
        if not line.strip():
            minutes[i] = None
            continue
        result.lines += 1
        record = parse_bounded(parse, line)
        if record is None:
            bad.append((i, line))
        else:
            minutes[i] = add_record(result.points, record)
    if bad:
        placed = pl.Series(minutes, dtype=pl.Int64).forward_fill().backward_fill().to_list()
        for i, line in bad:
            result.note_malformed(placed[i], line)
