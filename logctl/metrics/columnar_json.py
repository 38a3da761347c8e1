"""The columnar engine for JSON lines: the same aggregate as `aggregate_lines` with a
JsonLinesParser, read with polars (validation by a regex automaton, decoding by its JSON
reader, grouping in Rust), with Python touching only distinct values and the lines left.

A chunk's lines mostly share one key layout (or a few). A `Shape` is built from a sample
line of a layout: a pattern that matches exactly the lines `json.loads` reads as a flat
object with those keys in that order, each used field of the type the sample has, and
numbers short enough that any float parser rounds them right. Matched lines are decoded
by polars; the time, status, latency, level and route are computed by the line engine's
own functions once per distinct value. Lines of other layouts, nested values, odd
numbers or escapes go to the next shape or to JsonLinesParser, so the points are
identical (latency sums up to float rounding).
"""

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from logctl.formats.fields import FieldMap, integer, latency, level_name, severity_of
from logctl.formats.lines import MAX_LINE
from logctl.formats.record import LineParser
from logctl.formats.timestamps import parse_any
from logctl.metrics.columnar import group_points, parse_rest, prefolded, split_lines
from logctl.metrics.points import ChunkAggregate

_WS = r"[ \t]*"
# A JSON string json.loads takes, without surrogate escapes (polars would not keep a lone
# one as Python does).
_STRING = (r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]'
           r'|\\u(?:[0-9a-cA-Ce-fE-F][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2}))*"')
# At most 15 significant digits and no exponent: exact in any float parser. "-0" is left
# out: json.loads reads it as the integer 0, a float reader as -0.0.
_NUMBER = r"(?:-?(?:0|[1-9][0-9]{0,9})\.[0-9]{1,5}|0|-?[1-9][0-9]{0,14})"
_SCALAR = rf"(?:{_STRING}|{_NUMBER}|true|false|null)"
_PLAIN_KEY = re.compile(r'[^"\\\x00-\x1f]*')
TEXT_FIELDS = ("method", "path", "host", "level")
# Shapes tried per chunk; after them (or once few lines are left) the line parser.
MAX_SHAPES = 4
SAMPLES_PER_SHAPE = 16
MIN_LEFT = 64


@dataclass(frozen=True)
class Shape:
    """One key layout: the pattern its lines match, the keys to read with their polars
    type, and which record field each key feeds."""

    pattern: str
    schema: dict[str, pl.DataType]
    fields: dict[str, str]  # record field (ts, method, ...) -> key
    latency: tuple[str, float] | None

    @classmethod
    def of(cls, obj: dict, fields: FieldMap) -> "Shape | None":
        """The shape of a sample object; None when its layout is not one this engine
        reads exactly (nested values, several candidate keys for a field, odd keys)."""
        if not obj or not all(_plain(key, value) for key, value in obj.items()):
            return None
        layout = fields.layout(obj)
        used: dict[str, str] = {}
        for name in ("ts", "status", "bytes", *TEXT_FIELDS):
            # A dotted key whose head holds a scalar never has a value: only keys count.
            keys = [key for key in layout.keys[name] if key in obj]
            if len(keys) > 1:
                return None
            if keys:
                used[name] = keys[0]
        latencies = [each for each in layout.latency if each[0] in obj]
        if "ts" not in used or len(latencies) > 1:
            return None
        rt = latencies[0] if latencies else None
        read = (*used.values(), *(rt[:1] if rt else ()))
        if any(isinstance(obj[key], bool) for key in read):
            return None  # true reads as 1 in a number column, 'True' as text: rare, slow path
        schema = {key: _dtype(obj[key]) for key in read}
        if any(schema[used[name]] != pl.String for name in TEXT_FIELDS if name in used):
            return None  # a number as method or path reads as text: the line parser's job
        body = ",".join(
            f'{_WS}"{re.escape(key)}"{_WS}:{_WS}{_value(schema.get(key))}{_WS}' for key in obj)
        return cls(rf"^{_WS}\{{{body}\}}{_WS}\r?$", schema, used, rt)


def _plain(key: str, value: object) -> bool:
    """A key written one way only, with a scalar value."""
    return bool(_PLAIN_KEY.fullmatch(key)) and (value is None
                                                or isinstance(value, str | int | float))


def _dtype(value: object) -> pl.DataType:
    return pl.String if value is None or isinstance(value, str) else pl.Float64


def _value(dtype: pl.DataType | None) -> str:
    """What a key's value may be: any scalar when unused, else null or the sample's type."""
    if dtype is None:
        return _SCALAR
    return rf"(?:{_STRING if dtype == pl.String else _NUMBER}|null)"


def aggregate_json(data: bytes, fields: FieldMap, fallback: LineParser) -> ChunkAggregate:
    """Aggregate a chunk of JSON lines; `fallback` parses the lines no shape takes."""
    lines, raw = split_lines(data)
    result = ChunkAggregate()
    if lines.is_empty():
        return result
    minute = pl.Series("minute", [None] * len(lines), dtype=pl.Int64)
    length = lines.str.len_bytes()
    taken = []
    tried: set[int] = set()
    for _ in range(MAX_SHAPES):
        left = minute.is_null() & (length > 0)
        shape = _next_shape(lines, left, tried, fields)
        if shape is None:
            break
        # Overlong lines are malformed to the line parser without a look: left to it.
        candidates = left & (length <= MAX_LINE)
        rows = _read(lines, candidates & lines.str.contains(shape.pattern), shape)
        if rows.height:
            minute = minute.scatter(rows["row"], rows["minute"])
            taken.append(rows.drop("row"))
        if left.sum() - rows.height < MIN_LEFT:
            break
    if taken:
        good = pl.concat(taken)
        result.lines = good.height
        group_points(good, result)
    if minute.null_count():
        parse_rest(raw or lines, minute, fallback, result)
    return result


def _next_shape(lines: pl.Series, left: pl.Series, tried: set[int],
                fields: FieldMap) -> Shape | None:
    """The shape of the first line left (of the next few) that has one."""
    for row in left.arg_true().head(SAMPLES_PER_SHAPE).to_list():
        if row in tried:
            continue
        tried.add(row)
        try:
            obj = json.loads(lines[row])
        except (ValueError, RecursionError):
            continue
        shape = Shape.of(obj, fields) if isinstance(obj, dict) else None
        if shape is not None:
            return shape
    return None


def _read(lines: pl.Series, matched: pl.Series, shape: Shape) -> pl.DataFrame:
    """The matched lines as `group_points` rows plus their row number, those whose time or
    request the line parser reads otherwise left out."""
    if not matched.any():
        return pl.DataFrame()
    text = lines.filter(matched).str.join("\n").item().encode("utf-8")
    values = pl.read_ndjson(io.BytesIO(text), schema=shape.schema)
    keys = shape.fields
    frame = values.select(
        _converted(values, keys["ts"], parse_any, pl.Float64).alias("ts"),
        *(_integer(values, keys.get(name)).alias(name) for name in ("status", "bytes")),
        *(_text(keys.get(name)).alias(name) for name in TEXT_FIELDS),
        _latency(values, shape),
    ).with_columns(row=matched.arg_true()).filter(pl.col("ts").is_not_null())
    if frame.is_empty():
        return frame
    minute = pl.col("ts").replace_strict(*_distinct(frame["ts"], _minute),
                                         return_dtype=pl.Int64)
    # '' (no level, as the line parser's `first` skips it) names no severity either.
    severity = pl.col("level").replace_strict(*_distinct(frame["level"], severity_of),
                                              return_dtype=pl.Int8)
    status = pl.col("status")
    error = (status >= 500) | ((status < 100) & (severity <= 3).fill_null(False))
    level = severity.replace_strict(list(range(8)), [level_name(s) for s in range(8)],
                                    return_dtype=pl.String).fill_null("-")
    split = (pl.col("method") == "") & pl.col("path").str.contains(" ", literal=True)
    return frame.filter(~split).select(
        minute.alias("minute"),
        "host",
        pl.when(pl.col("method") != "").then("method").otherwise(level).alias("method"),
        prefolded(pl.when(pl.col("path") != "").then("path").otherwise(pl.lit("-")))
        .alias("route_pre"),
        status,
        pl.col("bytes").alias("size"),
        "rt_ms",
        error.alias("error"),
        (~error & (status >= 400) & (status < 500)).alias("client_error"),
        "ts",
        "row",
    )


def _converted(values: pl.DataFrame, key: str, convert: Callable[[object], object],
               dtype: pl.DataType) -> pl.Expr:
    """A column through `convert`, run once per distinct value (null stays null)."""
    return pl.col(key).replace_strict(*_distinct(values[key], convert), default=None,
                                      return_dtype=dtype)


def _integer(values: pl.DataFrame, key: str | None) -> pl.Expr:
    """Status or bytes as fields.integer reads them (0 when absent or not a number)."""
    if key is None:
        return pl.lit(0, pl.Int64)
    if values[key].dtype == pl.String:
        return _converted(values, key, integer, pl.Int64).fill_null(0)
    number = pl.col(key)
    return pl.when((number >= 0) & (number < 2**62)).then(number.cast(pl.Int64)).otherwise(0)


def _text(key: str | None) -> pl.Expr:
    """A text field as fields.text reads it ('' when absent or null)."""
    return pl.col(key).fill_null("") if key else pl.lit("")


def _latency(values: pl.DataFrame, shape: Shape) -> pl.Expr:
    """The response time in ms as fields.latency reads it (null without one)."""
    if shape.latency is None:
        return pl.lit(None, pl.Float64).alias("rt_ms")
    key, factor = shape.latency
    if values[key].dtype == pl.String:
        return _converted(values, key, lambda v: latency({key: v}, (shape.latency,)),
                          pl.Float64).alias("rt_ms")
    number = pl.col(key)
    return pl.when(number >= 0).then(number * factor).alias("rt_ms")


def _distinct(column: pl.Series, convert: Callable[[object], object]) -> tuple[list, list]:
    """Old and new values for replace_strict: `convert` run once per distinct value."""
    old = column.drop_nulls().unique().to_list()
    return old, [convert(value) for value in old]


def _minute(ts: float) -> int:
    """The minute of a time, as add_record computes it."""
    return int(ts // 60) * 60

