"""The columnar engine for AWS load balancer logs (ALB and classic ELB): the same aggregate
as `aggregate_lines` with an AwsLbParser, read with polars, with Python touching only
distinct times and requests, and the lines left.

The pattern is AwsLbParser's, written for Rust's regex engine (ASCII classes, as Python's
bytes patterns have them); a matched line's time, method, host and path are computed by
the line parser's own functions once per distinct value, and its response time is the
same sum of the same three floats. Lines the pattern does not take go to AwsLbParser, so
the points are identical (latency sums up to float rounding).
"""

import polars as pl

from logctl.formats.access import MAX_SIZE_DIGITS
from logctl.formats.aws_lb import split_target
from logctl.formats.lines import MAX_LINE
from logctl.formats.record import LineParser
from logctl.formats.timestamps import parse_iso
from logctl.metrics.columnar import aggregate_taken, prefolded, split_lines
from logctl.metrics.points import ChunkAggregate

_NS = r"[^ \t\n\r\f\v]"
_TIME = r"-?[0-9]{1,9}(?:\.[0-9]{1,9})?"
_QUOTED = r'"((?:[^"\\]|\\.)*)"'
LINE = (
    r"^(?:[a-z0-9]{1,8} )?([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z)"
    rf" {_NS}+ {_NS}+ {_NS}+ ({_TIME}) ({_TIME}) ({_TIME}) ([0-9]{{3}}|-) (?:[0-9]{{3}}|-)"
    rf" [0-9]{{1,{MAX_SIZE_DIGITS}}} ([0-9]{{1,{MAX_SIZE_DIGITS}}}) {_QUOTED}"
    r' "(?:[^"\\]|\\.)*"(?: .*)?\r?$'
)
GROUPS = ["time", "t1", "t2", "t3", "status", "sent", "request"]
# split_request's method and target when both are there, the method ASCII (as it decodes
# it; a line with another is the line parser's).
REQUEST = r"^([\x00-\x1f!-\x7f]+) ([^ ]+)"
# A URL whose host and path urlsplit (split_target) takes as they are written: a scheme,
# an ASCII netloc without brackets (IPv6 literals are validated) and a path, neither
# holding the tab, CR or LF urlsplit deletes. Other targets go through split_target, once
# per distinct target.
PLAIN_URL = (r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#\[\]\x00-\x20\x7f-\x{10FFFF}]*)"
             r"(/[^?#\t\r\n]*)(?:[?#]|$)")


def aggregate_lb(data: bytes, fallback: LineParser) -> ChunkAggregate:
    """Aggregate a chunk of load balancer lines; `fallback` parses the lines left."""
    lines, raw = split_lines(data)
    if lines.is_empty():
        return ChunkAggregate()
    frame = pl.DataFrame({"line": lines}).with_row_index("row").select(
        "row", (pl.col("line").str.len_bytes() <= MAX_LINE).alias("short"),
        pl.col("line").str.extract_groups(LINE).struct.rename_fields(GROUPS).alias("g"),
    ).unnest("g").filter(pl.col("time").is_not_null() & pl.col("short"))
    return aggregate_taken(lines, raw, _records(frame) if frame.height else pl.DataFrame(),
                           fallback)


def _records(frame: pl.DataFrame) -> pl.DataFrame:
    """Matched lines with a time the line parser reads and an ASCII method, as
    `group_points` rows."""
    request = pl.col("request").str.extract_groups(REQUEST).struct.rename_fields(
        ["method", "target"])
    url = pl.col("target").str.extract_groups(PLAIN_URL).struct.rename_fields(
        ["plain_host", "plain_path"])
    frame = frame.with_columns(request.alias("r")).unnest("r").with_columns(
        url.alias("u")).unnest("u")
    others = frame.filter(pl.col("plain_path").is_null())["target"].drop_nulls().unique()
    parts = pl.DataFrame([(target, *split_target(target)) for target in others.to_list()],
                         schema={"target": pl.String, "url_host": pl.String,
                                 "url_path": pl.String}, orient="row")
    t1, t2, t3 = (pl.col(name).cast(pl.Float64) for name in ("t1", "t2", "t3"))
    status = pl.when(pl.col("status") == "-").then(0).otherwise(
        pl.col("status").cast(pl.Int64, strict=False))
    rows = frame.with_columns(_micros(frame["time"]).alias("micros")).filter(
        pl.col("micros").is_not_null() & pl.col("method").is_not_null()).join(
        parts, on="target", how="left", maintain_order="left").with_columns(
        pl.coalesce("plain_host", "url_host").alias("host"),
        pl.coalesce("plain_path", "url_path").alias("path"))
    # Divided in Python, int by int as datetime.timestamp() divides: polars divides by a
    # constant as a multiplication by its reciprocal, which rounds differently.
    stamps = [m / 1_000_000 for m in rows["micros"]]
    rows = rows.with_columns(pl.Series("ts", stamps, dtype=pl.Float64),
                             pl.Series("minute", [int(t // 60) * 60 for t in stamps],
                                       dtype=pl.Int64))
    return rows.select(
        "minute",
        "host",
        "method",
        prefolded(pl.col("path")).alias("route_pre"),
        status.alias("status"),
        pl.col("sent").cast(pl.Int64).alias("size"),
        pl.when(pl.min_horizontal(t1, t2, t3) >= 0).then((t1 + t2 + t3) * 1000.0)
        .alias("rt_ms"),
        (status >= 500).alias("error"),
        ((status >= 400) & (status < 500)).alias("client_error"),
        "ts",
        "row",
    )


def _micros(times: pl.Series) -> pl.Expr:
    """Each time as microseconds since the epoch, as parse_iso reads it: the whole second
    by parse_iso itself, once per distinct second, and the fraction as the microseconds
    fromisoformat keeps (the first six digits)."""
    seconds = times.str.slice(0, 19).unique().to_list()
    starts = [parse_iso(f"{second}Z") for second in seconds]
    start = pl.col("time").str.slice(0, 19).replace_strict(
        seconds, [None if t is None else int(t) for t in starts], default=None,
        return_dtype=pl.Int64)
    micros = pl.col("time").str.extract(r"\.([0-9]+)Z$").str.slice(0, 6).str.pad_end(6, "0")
    return start * 1_000_000 + micros.cast(pl.Int64).fill_null(0)
