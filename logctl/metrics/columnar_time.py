"""The JSON engine's timestamps read column-wise: the common forms (epoch numbers and digit
strings, CLF stamps, RFC 3339 times) with the arithmetic of `parse_any`, Python running
once per distinct minute rather than once per distinct value; every other value, and any
these patterns leave, goes through `parse_any` itself.

A sparse chunk holds a few thousand distinct seconds over a few dozen minutes: parse_any
for each was a tenth of the chunk's time.

Exactness: each pattern takes a strict subset of what parse_any's branch for that form
takes (ASCII digits, one separator), and computes the same float operations in the same
order: CLF `base + second + fraction`; an RFC 3339 time with an offset as its whole
microseconds over 1e6 (as `datetime.timestamp` divides), a naive one as `base + second`
plus microseconds over 1e6 (as parse_iso adds them); epochs scaled by parse_epoch's steps.
"""

from collections.abc import Callable
from functools import lru_cache

import polars as pl

from logctl.formats.timestamps import clf_minute, parse_any, parse_iso

# parse_any takes a CLF stamp when it starts with a digit; brackets after it are stripped.
CLF_TIME = (r"^([0-9]{1,2})/([A-Za-z]{3})/([0-9]{4}):([0-9]{2}):([0-9]{2}):([0-9]{2})"
            r"(?:\.([0-9]+))? *([+-][0-9]{4}|Z)?[\[\]]*$")
ISO_TIME = (r"^([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]([0-9]{2}:[0-9]{2}):([0-9]{2})"
            r"(?:\.([0-9]{1,6}))?([Zz]|[+-][0-9]{2}:[0-9]{2})?$")
EPOCH_TEXT = r"^[0-9]{9,19}(?:\.[0-9]+)?$"


def times(column: pl.Series) -> pl.Series:
    """Epoch seconds of each value of a JSON time column as parse_any reads it (null where
    it reads none)."""
    if column.dtype.is_numeric():
        return column.to_frame("v").select(
            epoch(pl.col("v").cast(pl.Float64), len(column))).to_series()
    distinct = column.drop_nulls().unique()
    if column.dtype == pl.String:
        read = _strings(distinct)
    else:
        read = pl.Series([None] * len(distinct), dtype=pl.Float64)
    left = read.is_null().arg_true()
    if len(left):
        read = read.scatter(left, [parse_any(value) for value in distinct.gather(left)])
    return column.replace_strict(distinct, read, default=None, return_dtype=pl.Float64)


def epoch(value: pl.Expr, rows: int) -> pl.Expr:
    """parse_epoch (of a frame of `rows` rows): seconds, milliseconds, microseconds or
    nanoseconds by magnitude."""
    scaled = pl.when(value <= 0).then(None)
    for scale in (1.0, 1e3, 1e6, 1e9):
        quotient = divided(value, scale, rows)
        scaled = scaled.when(quotient < 1e11).then(quotient)
    return scaled


def divided(value: pl.Expr, by: float, rows: int) -> pl.Expr:
    """value / by, correctly rounded as Python divides: polars multiplies by the
    reciprocal when it divides by a scalar (1748736000123 / 1e3 gave ...000.1230001), and
    divides when the divisor is a column."""
    return value / pl.lit(pl.repeat(by, rows, dtype=pl.Float64, eager=True))


def _strings(values: pl.Series) -> pl.Series:
    """Distinct time strings read by the patterns (null where none applies), each pattern
    tried on what the ones before left (a log's times share one form)."""
    read = pl.Series([None] * len(values), dtype=pl.Float64)
    for reader in (_clf, _iso, _epoch_text):
        left = read.is_null().arg_true()
        if not len(left):
            break
        read = read.scatter(left, reader(values.gather(left)))
    return read


def _epoch_text(values: pl.Series) -> pl.Series:
    return values.to_frame("v").select(pl.when(pl.col("v").str.contains(EPOCH_TEXT)).then(
        epoch(pl.col("v").cast(pl.Float64, strict=False), len(values)))).to_series()


def _clf(values: pl.Series) -> pl.Series:
    parts = values.str.extract_groups(CLF_TIME).struct.unnest()
    day, month, year, hour, minute, second, fraction, zone = (parts[str(i)] for i in range(1, 9))
    key = pl.concat_str([day, pl.lit("/"), month, pl.lit("/"), year, pl.lit(":"), hour,
                         pl.lit(":"), minute, pl.lit("|"), zone.fill_null("")])
    frame = pl.DataFrame({"key": pl.select(key).to_series(), "second": second,
                          "fraction": fraction})
    base = _per_distinct(frame["key"], clf_minute)
    fractional = pl.when(pl.col("fraction").is_not_null()).then(
        (pl.lit("0.") + pl.col("fraction")).cast(pl.Float64)).otherwise(0.0)
    return frame.select((base + pl.col("second").cast(pl.Int64)).cast(pl.Float64)
                         + fractional).to_series()


def _iso(values: pl.Series) -> pl.Series:
    parts = values.str.extract_groups(ISO_TIME).struct.unnest()
    date, clock, second, fraction, zone = (parts[str(i)] for i in range(1, 6))
    frame = pl.DataFrame({
        "key": pl.select(pl.concat_str([date, pl.lit("T"), clock, pl.lit("|"),
                                        zone.fill_null("")])).to_series(),
        "second": second.cast(pl.Int64), "zone": zone,
        "micros": fraction.str.pad_end(6, "0").cast(pl.Int64).fill_null(0)})
    base = _per_distinct(frame["key"], _iso_minute)
    seconds = pl.when(pl.col("second") <= 59).then(base + pl.col("second"))
    rows = len(values)
    aware = divided((seconds * 1_000_000 + pl.col("micros")).cast(pl.Float64), 1e6, rows)
    naive = seconds.cast(pl.Float64) + divided(pl.col("micros").cast(pl.Float64), 1e6, rows)
    return frame.select(pl.when(pl.col("zone").is_not_null()).then(aware)
                        .otherwise(naive)).to_series()


def _per_distinct(keys: pl.Series, minute_of: Callable[[str], int | None]) -> pl.Expr:
    """The epoch minute of each key, `minute_of` run once per distinct key."""
    distinct = keys.drop_nulls().unique()
    return pl.col("key").replace_strict(distinct, [minute_of(key) for key in distinct],
                                        default=None, return_dtype=pl.Int64)


@lru_cache(maxsize=4096)
def _iso_minute(key: str) -> int | None:
    """Epoch seconds of the minute 'YYYY-MM-DDTHH:MM|offset' as parse_iso reads it."""
    minute, _, zone = key.partition("|")
    start = parse_iso(f"{minute}:00{zone}")
    return None if start is None else int(start)
