"""The columnar engine for JSON lines: the same aggregate as `aggregate_lines` with a
JsonLinesParser, read with polars (validation by a regex automaton, decoding by its JSON
reader, grouping in Rust), with Python touching only distinct values and the lines left.

A chunk's lines mostly share one key layout (or a few). A `Shape` is built from a sample
line of a layout: a pattern that matches exactly the lines `json.loads` reads as an object
with those keys in that order, each used field of the type the sample has. Objects on the
way to a field the line parser may read (`request` of `request.uri`, as Caddy, ECS and
OTel-shaped logs nest them) are matched key by key the same way; other values only keep
their kind (scalar, object or array, nested at most GENERIC_DEPTH deep), so a header map
that changes from line to line still matches. Matched lines are decoded by polars; the
time, status, latency, level and route are computed by the line engine's own functions
once per distinct value. Lines of other layouts, deeper values, odd numbers or escapes go
to the next shape or to JsonLinesParser, so the points are identical (latency sums up to
float rounding).
"""

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import polars as pl

from logctl.formats.fields import FieldMap, integer, latency, level_name, severity_of
from logctl.formats.lines import MAX_LINE
from logctl.formats.record import LineParser
from logctl.metrics.columnar import group_points, parse_rest, prefolded, split_lines
from logctl.metrics.columnar_time import times
from logctl.metrics.points import ChunkAggregate

_WS = r"[ \t]*"
# A JSON string json.loads takes, without surrogate escapes (polars would not keep a lone
# one as Python does).
_STRING = (r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]'
           r'|\\u(?:[0-9a-cA-Ce-fE-F][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2}))*"')
# Decimals of at most 17 digits each side of the point, and no exponent: polars' reader
# rounds them as json.loads does (tests/metrics/test_columnar_json.py checks it on random
# shortest reprs, as a float epoch or a Caddy duration is written). Integers of at most 15
# digits: json.loads keeps them exact, a float column up to 2**53. "-0" is left out:
# json.loads reads it as the integer 0, a float reader as -0.0.
_NUMBER = r"(?:-?(?:0|[1-9][0-9]{0,16})\.[0-9]{1,17}|0|-?[1-9][0-9]{0,14})"
_SCALAR = rf"(?:{_STRING}|{_NUMBER}|true|false|null)"
# A number in a value no field reads: json.loads takes any, polars' reader refuses one
# past the float range (1e999) and with it the whole read, so exponents stay short.
_ANY_NUMBER = r"-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,17})?(?:[eE][+-]?[0-9]{1,2})?"
_ANY_SCALAR = rf"(?:{_STRING}|{_ANY_NUMBER}|true|false|null)"
_PLAIN_KEY = re.compile(r'[^"\\\x00-\x1f]*')
TEXT_FIELDS = ("method", "path", "host", "level")
RECORD_FIELDS = ("ts", "status", "bytes", *TEXT_FIELDS)
# How deep an unread value may nest (a Caddy header map of lists is 2).
GENERIC_DEPTH = 3
# Shapes tried per chunk; after them (or once few lines are left) the line parser.
MAX_SHAPES = 4
SAMPLES_PER_SHAPE = 16
MIN_LEFT = 64

Path = tuple[str, ...]


@dataclass(frozen=True)
class Shape:
    """One key layout: the pattern its lines match, the polars schema that reads the keys
    used (nested as structs), and which record field each key feeds."""

    pattern: str
    schema: dict[str, pl.DataType]
    paths: dict[str, Path]  # used key (as the field map names it) -> where it is
    fields: dict[str, str]  # record field (ts, method, ...) -> key
    latency: tuple[str, float] | None

    @classmethod
    def of(cls, obj: dict, fields: FieldMap) -> "Shape | None":
        """The shape of a sample object; None when its layout is not one this engine
        reads exactly (several candidate keys for a field, odd keys, deep values)."""
        if not obj:
            return None
        layout = fields.layout(obj)
        used: dict[str, str] = {}
        paths: dict[str, Path] = {}
        for name in RECORD_FIELDS:
            keys = [key for key in layout.keys[name] if _scalar_path(obj, key) is not None]
            if len(keys) > 1:
                return None
            if keys:
                used[name] = keys[0]
        latencies = [each for each in layout.latency if _scalar_path(obj, each[0]) is not None]
        if "ts" not in used or len(latencies) > 1:
            return None
        rt = latencies[0] if latencies else None
        for key in (*used.values(), *(rt[:1] if rt else ())):
            paths[key] = _scalar_path(obj, key)  # type: ignore[assignment]
        leaves = {path: _at(obj, path) for path in paths.values()}
        if any(isinstance(value, bool) for value in leaves.values()):
            return None  # true reads as 1 in a number column, 'True' as text: rare, slow path
        dtypes = {path: _dtype(value) for path, value in leaves.items()}
        if any(dtypes[paths[used[name]]] != pl.String for name in TEXT_FIELDS if name in used):
            return None  # a number as method or path reads as text: the line parser's job
        heads = _heads(fields)
        body = _object(obj, (), dtypes, heads)
        if body is None:
            return None
        return cls(rf"^{_WS}{body}{_WS}\r?$", _schema(dtypes), paths, used, rt)


def _scalar_path(obj: dict, key: str) -> Path | None:
    """Where `fields.lookup` finds `key` in obj (a top-level key first, else a dotted path
    through objects), when a scalar or null is there; None otherwise."""
    if key in obj:
        path: Path = (key,)
    else:
        path = tuple(key.split("."))
        node: object = obj
        for part in path:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
    return None if isinstance(_at(obj, path), dict | list) else path


def _at(obj: dict, path: Path) -> object:
    node: object = obj
    for part in path:
        node = node[part]  # type: ignore[index]
    return node


def _heads(fields: FieldMap) -> set[Path]:
    """The object paths any field's candidate key goes through: matched key by key, so
    that a candidate present in one line is present in every line the pattern takes."""
    keys = [key for name in (*RECORD_FIELDS, "client") for key in fields.keys(name)]
    keys += list(fields.latency_keys())
    return {tuple(parts[:n]) for parts in (key.split(".") for key in keys)
            for n in range(1, len(parts))}


def _object(node: dict, path: Path, dtypes: dict[Path, pl.DataType],
            heads: set[Path]) -> str | None:
    """The pattern of an object matched key by key: used leaves as their type, objects on
    the way to a candidate key likewise, other values by kind."""
    members = []
    for key, value in node.items():
        if not _PLAIN_KEY.fullmatch(key):
            return None
        here = (*path, key)
        if here in dtypes:
            matched: str | None = _value(dtypes[here])
        elif isinstance(value, dict) and here in heads:
            matched = _object(value, here, dtypes, heads)
        else:
            matched = _generic(value)
        if matched is None:
            return None
        members.append(f'{_WS}"{re.escape(key)}"{_WS}:{_WS}{matched}{_WS}')
    return r"\{" + (",".join(members) or _WS) + r"\}"


def _generic(value: object) -> str | None:
    """What an unread value may be: any value of its kind (scalar, object or array) no
    deeper than GENERIC_DEPTH; None when the sample's own value is deeper."""
    depth = _depth(value)
    if depth > GENERIC_DEPTH:
        return None
    if isinstance(value, dict):
        return _any_object(GENERIC_DEPTH)
    if isinstance(value, list):
        return _any_array(GENERIC_DEPTH)
    return _ANY_SCALAR


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@cache
def _any_value(depth: int) -> str:
    if depth == 0:
        return _ANY_SCALAR
    return rf"(?:{_ANY_SCALAR}|{_any_object(depth)}|{_any_array(depth)})"


@cache
def _any_object(depth: int) -> str:
    member = rf"{_WS}{_STRING}{_WS}:{_WS}{_any_value(depth - 1)}{_WS}"
    return rf"\{{(?:{member}(?:,{member})*|{_WS})\}}"


@cache
def _any_array(depth: int) -> str:
    item = rf"{_WS}{_any_value(depth - 1)}{_WS}"
    return rf"\[(?:{item}(?:,{item})*|{_WS})\]"


def _schema(dtypes: dict[Path, pl.DataType]) -> dict[str, pl.DataType]:
    """The polars schema that reads the used leaves: nested paths as structs."""
    tree: dict = {}
    for path, dtype in dtypes.items():
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = dtype

    def build(node: dict) -> dict[str, pl.DataType]:
        return {key: pl.Struct(build(value)) if isinstance(value, dict) else value
                for key, value in node.items()}

    return build(tree)


def _dtype(value: object) -> pl.DataType:
    return pl.String if value is None or isinstance(value, str) else pl.Float64


def _value(dtype: pl.DataType) -> str:
    """What a used key's value may be: null or the sample's type."""
    return rf"(?:{_STRING if dtype == pl.String else _NUMBER}|null)"


def _column(key: str, path: Path) -> pl.Expr:
    """A used leaf as a flat column named by its key."""
    expr = pl.col(path[0])
    for part in path[1:]:
        expr = expr.struct.field(part)
    return expr.alias(key)


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
        rows = _read(lines, candidates & lines.str.contains(shape.pattern), shape,
                     data if raw is None else None)
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


def _read(lines: pl.Series, matched: pl.Series, shape: Shape,
          chunk: bytes | None) -> pl.DataFrame:
    """The matched lines as `group_points` rows plus their row number, those whose time or
    request the line parser reads otherwise left out. When every line matched, `chunk`
    (the UTF-8 chunk the lines were split from) is read as it is, not joined again."""
    if not matched.any():
        return pl.DataFrame()
    if chunk is not None and matched.all():
        text = chunk
    else:
        text = lines.filter(matched).str.join("\n").item().encode("utf-8")
    values = pl.read_ndjson(io.BytesIO(text), schema=shape.schema).select(
        _column(key, path) for key, path in shape.paths.items())
    keys = shape.fields
    frame = values.select(
        pl.lit(times(values[keys["ts"]])).alias("ts"),
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

