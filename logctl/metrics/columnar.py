"""The columnar engine: a chunk aggregated with polars (regex in Rust, group-by in Rust),
with Python touching only unique values, the groups, and the few lines polars leaves. This
module holds the CLF family's engine and what the engines share (`split_lines`,
`group_points`, `parse_rest`); columnar_json holds the JSON lines engine.

Exactness: the CLF pattern here accepts a strict subset of what CombinedParser accepts and
extracts the same fields; every line it does not take goes through CombinedParser. The
minute of each distinct stamp, the route of each distinct pre-folded path and the
histogram bin of each distinct latency are computed by the same Python functions as the
line engine, so the points are identical (latency sums up to float rounding).
"""

from array import array

import polars as pl

from logctl.formats.access import MAX_SIZE_DIGITS
from logctl.formats.combined import RT_UNITS
from logctl.formats.lines import MAX_LINE, parse_bounded, strip_eol
from logctl.formats.record import SKIP, LineParser
from logctl.formats.timestamps import clf_minute
from logctl.metrics import sketch
from logctl.metrics.points import ChunkAggregate, Group, add_record

try:
    from logctl.metrics import _groups
except ImportError:  # built without a C compiler: polars groups the lines
    _groups = None

_NS = r"[^ \t\n\r\f\v]"
# Anchored at both ends: only whole lines of the strict shape match; others are null.
FULL = (
    rf'^[^ \t\n\r\f\v"\[]+ {_NS}+ {_NS}+ '
    r"\[([0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}):([0-9]{2}) ([+-][0-9]{4})\] "
    r'"([A-Z]+) ([^ "\\]+) HTTP/[0-9.]+" ([0-9]{3}) ([0-9]+|-)'
    r'(?: "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*"(?: ([0-9]+(?:\.[0-9]+)?))?)?\r?$'
)
GROUPS = ["stamp", "sec", "tz", "method", "path", "status", "size", "rt"]
POINT_KEY = ["minute", "host", "method", "route_pre", "status"]
# An all-digit path segment: what fold_route folds most often, done here in Rust. One pass
# folds every other one of adjacent such segments (matches share the '/'); fold_route
# folds what is left.
_DIGITS = r"/[0-9]+(/|$)"
Minutes = dict[tuple[str, str], int | None]  # (stamp, zone) -> minute, None if invalid


def aggregate_clf(data: bytes, rt_unit: str, fallback: LineParser) -> ChunkAggregate:
    """Aggregate a chunk of CLF lines; `fallback` parses the lines the pattern leaves."""
    lines, raw = split_lines(data)
    if lines.is_empty():
        return ChunkAggregate()
    frame = _extract(lines)
    minutes = _minutes(frame)
    frame = frame.with_columns(pl.when(_accepted()).then(_minute(minutes)).alias("minute"))
    good = frame.filter(pl.col("minute").is_not_null())
    result = ChunkAggregate(lines=good.height)
    if good.height:
        _points(good, rt_unit, result)
    if good.height < frame.height:
        parse_rest(raw or lines, frame["minute"], fallback, result)
    return result


def split_lines(data: bytes) -> tuple[pl.Series, list[bytes] | None]:
    """The chunk's lines as a string Series, split in Rust. When the chunk is not UTF-8,
    the lines that are not are blanked (so the line parser takes them) and the raw lines
    come too, for that parser."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raw = data.split(b"\n")
        if raw and not raw[-1]:
            raw.pop()
        lines = pl.Series("line", [line if _decodes(line) else b"" for line in raw],
                          dtype=pl.Binary).cast(pl.Utf8)
        return lines, raw
    if text.endswith("\n"):
        text = text[:-1]
    elif not text:
        return pl.Series("line", [], dtype=pl.Utf8), None
    return pl.Series("line", [text]).str.split("\n").explode(), None


def _decodes(line: bytes) -> bool:
    try:
        line.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _extract(lines: pl.Series) -> pl.DataFrame:
    """One row per line with the pattern's groups (null where it did not match)."""
    return pl.DataFrame({"line": lines}).select(
        pl.col("line").str.len_bytes().alias("length"),
        pl.col("line").str.extract_groups(FULL).struct.rename_fields(GROUPS).alias("g"),
    ).unnest("g")


def _minutes(frame: pl.DataFrame) -> Minutes:
    """The minute of each distinct (stamp, zone) pair, as the line parser reads it."""
    stamps = frame.select("stamp", "tz").drop_nulls().unique()
    return {(s, t): clf_minute(f"{s}|{t}") for s, t in stamps.iter_rows()}


def _accepted() -> pl.Expr:
    """Lines the columnar path counts: matched, a valid second, a size the line parser takes,
    not overlong (and a valid date: `_minute` is null without one). A leap second (:60)
    belongs to the next minute: the line parser takes it."""
    ok = (pl.col("stamp").is_not_null() & (pl.col("sec").cast(pl.Int64) <= 59)
          & (pl.col("size").str.len_bytes() <= MAX_SIZE_DIGITS) & (pl.col("length") <= MAX_LINE))
    return ok.fill_null(False)


def _minute(minutes: Minutes) -> pl.Expr:
    """Each line's minute (null where the stamp is not a valid date)."""
    valid = {f"{s}|{t}": minute for (s, t), minute in minutes.items() if minute is not None}
    return pl.concat_str("stamp", pl.lit("|"), "tz").replace_strict(
        list(valid), list(valid.values()), default=None, return_dtype=pl.Int64)


def prefolded(path: pl.Expr) -> pl.Expr:
    """The path without query and fragment, all-digit segments folded to `:id`: what
    fold_route would make of those parts, so fold_route(prefolded) == fold_route(path)
    and it runs once per distinct prefolded path instead of once per path."""
    bare = path.str.replace(r"(?s)[?#].*", "")
    folded = bare.str.replace_all(_DIGITS, "/:id$1")
    return pl.when(bare.str.starts_with("/")).then(folded).otherwise(bare)


def _latency(rt_unit: str) -> pl.Expr:
    """The response time in ms, as CombinedParser.response_time reads it (null where it
    overflows, as add_record ignores it)."""
    value = pl.col("rt").cast(pl.Float64)
    scale = RT_UNITS[rt_unit]
    if scale is not None:
        ms = value * scale
    else:
        ms = (pl.when(pl.col("rt").str.contains(".", literal=True))
              .then(value * 1000.0).otherwise(value * 0.001))
    return pl.when(ms.is_finite()).then(ms)


def _points(good: pl.DataFrame, rt_unit: str, result: ChunkAggregate) -> None:
    """The accepted lines as the columns `group_points` takes."""
    status = pl.col("status").cast(pl.Int64)
    group_points(good.select(
        "minute",
        pl.lit("").alias("host"),
        "method",
        prefolded(pl.col("path")).alias("route_pre"),
        status.alias("status"),
        pl.col("size").cast(pl.Int64, strict=False).fill_null(0).alias("size"),  # "-": 0
        _latency(rt_unit).alias("rt_ms"),
        (status >= 500).alias("error"),
        ((status >= 400) & (status < 500)).alias("client_error"),
        (pl.col("minute") + pl.col("sec").cast(pl.Int64)).alias("ts"),
    ), result)


def group_points(good: pl.DataFrame, result: ChunkAggregate) -> None:
    """Group accepted lines by point key (in C where built), into the aggregate's waiting groups (as
    the native scanner's: a store writes them as rows, or reading `points` folds their
    routes and makes them points).

    `good` holds one row per line: minute, host, method, route_pre (see `prefolded`),
    status, size, rt_ms (null without a latency), error, client_error, ts.
    """
    good = good.with_columns(_bins(good["rt_ms"]).alias("bin"))
    result.groups.append(_grouped_natively(good) if _groups is not None else _grouped(good))


def _grouped_natively(good: pl.DataFrame) -> list[Group]:
    """The groups summed in C (`_groups.c`) over the columns in place: polars only finds
    each line's first line of the same key, and the keys of those first lines."""
    rows = good.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), *POINT_KEY)
    first = rows.select(pl.col("row").min().over(POINT_KEY)).to_series()
    keys = rows.filter(first == rows["row"]).select(POINT_KEY).rows()
    column = good.get_column
    return _groups.group(
        keys, first.rechunk(), column("error").cast(pl.UInt8).rechunk(),
        column("client_error").cast(pl.UInt8).rechunk(), column("size").rechunk(),
        column("rt_ms").cast(pl.Float64).rechunk(), column("bin").rechunk(),
        column("ts").rechunk())


def _grouped(good: pl.DataFrame) -> list[Group]:
    """The groups summed by polars (where the C grouping was not built)."""
    good = good.sort("bin", nulls_last=True)
    groups = good.group_by(POINT_KEY).agg(
        pl.len().alias("count"),
        pl.col("error").sum().alias("errors"),
        pl.col("client_error").sum().alias("client_errors"),
        pl.col("size").sum().alias("bytes"),
        pl.col("rt_ms").count().alias("latency_count"),
        pl.col("rt_ms").sum().alias("latency_sum"),
        pl.col("rt_ms").max().fill_null(0.0).alias("latency_max"),
        pl.col("ts").min().alias("first"),
        pl.col("ts").max().alias("last"),
        pl.col("bin").drop_nulls().unique(maintain_order=True).alias("bins"),
        pl.col("bin").drop_nulls().unique_counts().alias("counts"),
    )
    blobs = _encoded_hists(groups)
    rows = groups.drop("bins", "counts").iter_rows()
    return [(minute, host, method, route_pre, status, tuple(counters), blob)
            for (minute, host, method, route_pre, status, *counters), blob
            in zip(rows, blobs, strict=True)]


def _bins(rt_ms: pl.Series) -> pl.Series:
    """The histogram bin of each latency, computed in Python once per distinct value."""
    values = rt_ms.drop_nulls().unique()
    return rt_ms.replace_strict(values, [sketch.bin_index(v) for v in values],
                                default=None, return_dtype=pl.Int32)


def _encoded_hists(groups: pl.DataFrame) -> list[bytes | None]:
    """Each group's (bin, count) pairs packed as `sketch.encode` packs them. Bins are
    ascending because the lines were sorted by bin before grouping."""
    lengths = groups["bins"].list.len().to_list()
    pairs = groups.select(pl.concat_list(pl.col("bins").explode(), pl.col("counts").explode()
                                         .cast(pl.Int32)).explode())
    packed = array("i", pairs.to_series().to_list()).tobytes()
    blobs: list[bytes | None] = []
    offset = 0
    for length in lengths:
        end = offset + 8 * length
        blobs.append(packed[offset:end] or None)
        offset = end
    return blobs


def aggregate_taken(lines: pl.Series, raw: list[bytes] | None, good: pl.DataFrame,
                    fallback: LineParser) -> ChunkAggregate:
    """A chunk's aggregate from the lines an engine took (`good`: `group_points` rows plus
    their row number in `lines`) and, through `fallback`, every other line."""
    result = ChunkAggregate(lines=good.height)
    minute = pl.Series("minute", [None] * len(lines), dtype=pl.Int64)
    if good.height:
        minute = minute.scatter(good["row"], good["minute"])
        group_points(good.drop("row"), result)
    if minute.null_count():
        parse_rest(raw or lines, minute, fallback, result)
    return result


def parse_rest(lines: pl.Series | list[bytes], minute: pl.Series, parse: LineParser,
               result: ChunkAggregate) -> None:
    """Parse the lines not taken (null `minute`) with the line parser, and place malformed
    lines at the minute of the nearest good line before them (after them at the chunk
    start), as `aggregate_lines` does."""
    placed: list[int | None] = minute.to_list()
    bad: list[tuple[int, bytes]] = []
    points, _ = result.split()  # beside the groups, which stay waiting
    for i in minute.is_null().arg_true().to_list():
        text = lines[i]
        line = strip_eol(text if isinstance(text, bytes) else text.encode("utf-8"))
        if not line.strip():
            continue
        result.lines += 1
        record = parse_bounded(parse, line)
        if record is SKIP:  # a directive (W3C's #Fields:): neither a request nor malformed
            continue
        if record is None:
            bad.append((i, line))
        else:
            placed[i] = add_record(points, record)
    if bad:
        filled = pl.Series(placed, dtype=pl.Int64).forward_fill().backward_fill().to_list()
        for i, line in bad:
            result.note_malformed(filled[i], line)
