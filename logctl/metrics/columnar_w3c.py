"""The columnar engine for W3C extended logs (CloudFront, IIS): the same aggregate as
`aggregate_lines` with a W3cParser, read with polars, with Python touching only distinct
dates, times and paths, and the lines left.

A chunk is cut at its `#Fields:` lines into runs of one field layout (the first run's
layout is the header ingest sends with the chunk). In each run, a data line is split as
W3cParser splits it (on tabs when it holds one, else on spaces) and taken when it has the
layout's number of fields and every field read is of a shape both engines read alike: a
date and a time, a status of digits, an ASCII method, a size of digits (or none), a
time-taken of plain decimal digits (or none). Directives and every other line go, in
order, to a W3cParser that started from the same header, so it follows the layout changes
itself: the points are identical (latency sums up to float rounding).
"""

from collections.abc import Callable

import polars as pl

from logctl.formats.lines import MAX_LINE
from logctl.formats.w3c import DATE, FIELDS_DIRECTIVE, HOSTS, W3cParser
from logctl.metrics.columnar import aggregate_taken, prefolded, split_lines
from logctl.metrics.points import ChunkAggregate

FIELDS = FIELDS_DIRECTIVE.decode()
# Statuses and sizes that fit an int64 column as int() reads them; a time-taken that
# polars rounds as float() does (digits, one point, no sign or exponent).
DIGITS = r"^[0-9]{1,18}$"
DECIMAL = r"^[0-9]{1,17}(?:\.[0-9]{1,17})?$"
METHOD = r"^[!-~]+$"  # ASCII, as W3cParser decodes it
CLOCK = r"^[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?$"  # w3c.TIME
BLANK = " \t\r\n\x0b\x0c"  # what bytes.strip() strips: a line of these is no line


def aggregate_w3c(data: bytes, header: str, fallback: W3cParser) -> ChunkAggregate:
    """Aggregate a chunk of W3C lines; `header` is the `#Fields:` line in force at its
    start, `fallback` a W3cParser built from it, which parses the lines left."""
    lines, raw = split_lines(data)
    if lines.is_empty():
        return ChunkAggregate()
    frame = pl.DataFrame({"line": lines}).with_row_index("row").with_columns(
        pl.col("line").str.starts_with(FIELDS).cum_sum().alias("run"),
        pl.col("line").str.strip_chars_end("\r").alias("body"))
    layouts = [header, *lines.filter(lines.str.starts_with(FIELDS)).to_list()]
    taken = [rows for run, layout in enumerate(layouts)
             if (rows := _run(frame.filter(pl.col("run") == run), layout)) is not None]
    return aggregate_taken(lines, raw, pl.concat(taken) if taken else pl.DataFrame(),
                           fallback)


def _run(frame: pl.DataFrame, layout: str) -> pl.DataFrame | None:
    """The lines of one layout's run that this engine takes, as `group_points` rows plus
    their row number; None when the run has no layout or takes nothing."""
    names = W3cParser(layout.rstrip("\r")).names if layout else []
    if not names or frame.is_empty():
        return None
    line, body = pl.col("line"), pl.col("body")
    data = frame.filter(~line.str.starts_with("#") & (line.str.len_bytes() <= MAX_LINE)
                        & (line.str.strip_chars(BLANK) != ""))
    tabs = data["line"].str.contains("\t", literal=True)
    if tabs.all() or not tabs.any():  # CloudFront's tabs or IIS's spaces: one split
        values = body.str.split("\t" if tabs.any() else " ")
    else:
        values = pl.when(tabs).then(body.str.split("\t")).otherwise(body.str.split(" "))
    split = data.select("row", values.alias("values")).filter(
        pl.col("values").list.len() == len(names))
    if split.is_empty():
        return None
    index = {name: i for i, name in enumerate(names)}
    fields = split.select("row", *(pl.col("values").list.get(i).alias(name)
                                   for name, i in index.items()
                                   if name in _READ or name in HOSTS))
    rows = _records(fields, index, any(name.startswith("x-edge-") for name in names))
    return rows if rows.height else None


_READ = ("date", "time", "sc-status", "cs-method", "cs-uri-stem", "sc-bytes", "time-taken")


def _records(fields: pl.DataFrame, index: dict[str, int], seconds: bool) -> pl.DataFrame:
    """The lines both engines read alike, as `group_points` rows."""
    if not all(name in index for name in ("date", "time", "sc-status", "cs-method",
                                           "cs-uri-stem")):
        return pl.DataFrame()  # W3cParser calls every line of such a layout malformed

    def value(name: str) -> pl.Expr:
        """A field as W3cParser.get reads it: '-' is none."""
        if name not in index:
            return pl.lit(None, pl.String)
        return pl.when(pl.col(name) != "-").then(pl.col(name))

    day = _distinct(fields["date"], _day)
    size, taken = value("sc-bytes"), value("time-taken")
    status = value("sc-status")
    ok = (status.str.contains(DIGITS) & value("cs-method").str.contains(METHOD)
          & value("cs-uri-stem").is_not_null()
          & ~size.str.contains(r"^[0-9]{19,}$").fill_null(False)
          & (taken.is_null() | taken.str.contains(DECIMAL)))
    ts = pl.col("date").replace_strict(*day, default=None, return_dtype=pl.Int64) + _second()
    code = status.cast(pl.Int64, strict=False)
    host = pl.coalesce(*(pl.when(value(name) != "").then(value(name))
                         for name in HOSTS if name in index), pl.lit(""))
    return fields.with_columns(ts.alias("ts")).filter(
        ok.fill_null(False) & pl.col("ts").is_not_null()).select(
        (pl.col("ts") // 60 * 60).alias("minute"),
        host.alias("host"),
        pl.col("cs-method").alias("method"),
        prefolded(pl.col("cs-uri-stem")).alias("route_pre"),
        code.alias("status"),
        pl.when(size.str.contains(DIGITS)).then(size.cast(pl.Int64, strict=False))
        .otherwise(0).alias("size"),
        (taken.cast(pl.Float64, strict=False) * (1000.0 if seconds else 1.0)).alias("rt_ms"),
        (code >= 500).alias("error"),
        ((code >= 400) & (code < 500)).alias("client_error"),
        pl.col("ts").cast(pl.Float64).alias("ts"),
        "row",
    )


def _distinct(column: pl.Series, convert: Callable[[str], int | None]) -> tuple[list, list]:
    """Old and new values for replace_strict: `convert` run once per distinct value
    (None where W3cParser would refuse it)."""
    old = column.drop_nulls().unique().to_list()
    return old, [convert(value) for value in old]


def _day(date: str) -> int | None:
    """A `date` field as the epoch second its day starts at, as W3cParser.stamp reads it
    (None for one it refuses, or raises on: the line parser's then)."""
    if not DATE.match(date.encode()):
        return None
    try:
        start = W3cParser.stamp(date.encode(), b"00:00:00")
    except (ValueError, OverflowError):
        return None
    return None if start is None else int(start)


def _second() -> pl.Expr:
    """The `time` field as seconds into its day, null where W3cParser.stamp refuses it (a
    leap second, :60, rolls into the next minute as calendar.timegm rolls it)."""
    clock = pl.col("time")
    hour, minute, second = (clock.str.slice(at, 2).cast(pl.Int64, strict=False)
                            for at in (0, 3, 6))
    valid = clock.str.contains(CLOCK) & (hour <= 23) & (minute <= 59) & (second <= 60)
    return pl.when(valid).then(hour * 3600 + minute * 60 + second)
