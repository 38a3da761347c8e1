"""SQL for metric queries, shared by the stores: filters, grouping and bucketing of points
(joined to their series) and of malformed-line counts. The few spellings that differ between
SQLite and PostgreSQL live in a `Dialect`, so both stores answer from the same SQL. A query
reads stored minutes (`points`) or their rollups (store/rollup.py), each a `Table`."""

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from logctl.errors import UsageError
from logctl.store.base import KEY_SEP, Query, SourceTotals

_STATUS = re.compile(r"^([1-5])xx$|^(\d{3})$")
KEY_EXPR = {
    "route": "{s}.route", "status": "CAST({s}.status AS TEXT)", "method": "{s}.method",
    "host": "{s}.host", "source": "{s}.source", "status_class": "({s}.status / 100) || 'xx'",
}
# A stored point's counters, as a query returns them after its key and bucket (the first
# five summed as integers).
COUNTER_COLUMNS = ("count", "errors", "client_errors", "bytes", "latency_count", "latency_sum",
                 "latency_max", "first_ts", "last_ts")
Span = tuple[float, float]  # [start, end) in epoch seconds; -inf and inf for open ends

MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z
MAX_STEP_MINUTES = 525_600


@dataclass(frozen=True)
class Dialect:
    """How one database spells parameters, route globs and sums, and whether it merges
    histograms in the same SELECT as the counters (a SQLite aggregate function)."""

    param: str
    glob: str
    int_sum: str
    float_sum: str
    hist_in_select: bool

    def params(self, count: int) -> str:
        """`count` comma-separated placeholders."""
        return ", ".join([self.param] * count)

    def glob_pattern(self, pattern: str) -> str:
        """The parameter for the route glob condition."""
        return pattern if self.glob.startswith("GLOB") else glob_to_regex(pattern)


SQLITE = Dialect("?", "GLOB ?", "sum({})", "total({})", True)
POSTGRES = Dialect("%s", "~ %s", "sum({})::bigint", "coalesce(sum({}), 0)::float8", False)


@dataclass(frozen=True)
class Table:
    """Rows shaped like points (counters, histogram, first/last) that a query can read:
    the FROM clause, the alias its series dimensions are read under, its time column, the
    SQLite aggregate that merges its histograms, the seconds one row's time covers, and
    whether its rows are per source rather than per series."""

    body: str
    dims: str
    time: str
    hist_agg: str
    seconds: int = 60
    per_source: bool = False  # a row per source and time, not per series


# Stored minutes: a query plan's part for them is read from their blocks, decoded and
# summed outside SQL (store/block_points.py), in both stores; points_sql is for rollups.
POINTS = Table("blocks", "s", "minute", "NULL")
# A source's batches that end past an offset, by start: base.unbroken_end walks them (few:
# only those stored after the checkpoint, through the (source_id, end_offset) index).
LEDGER_RUN = ("SELECT start_offset, end_offset FROM batches WHERE source_id = ? AND "
              "end_offset > ? ORDER BY start_offset")


def glob_to_regex(pattern: str) -> str:
    """A SQLite GLOB pattern (`*`, `?`, `[...]`, case-sensitive) as an anchored POSIX regex,
    so route filters match the same routes in PostgreSQL."""
    out, i = ["^"], 0
    while i < len(pattern):
        char = pattern[i]
        close = pattern.find("]", i + 2) if char == "[" else -1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif close != -1:
            body = pattern[i + 1:close]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body)
                       .replace("\\", "\\\\") + "]")
            i = close
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out) + "$"


def status_condition(values: list[str] | tuple[str, ...], dialect: Dialect = SQLITE,
                     dims: str = "s") -> tuple[str, list[int]]:
    """'5xx', '404', '4xx,500' to a SQL condition on the status of `dims`."""
    parts, params = [], []
    p = dialect.param
    for value in (v.strip().lower() for raw in values for v in raw.split(",")):
        match = _STATUS.match(value)
        if not match:
            raise UsageError(f"bad status filter {value!r}: use a code (404) or a class (5xx)")
        if match[1]:
            parts.append(f"{dims}.status BETWEEN {p} AND {p}")
            params += [int(match[1]) * 100, int(match[1]) * 100 + 99]
        else:
            parts.append(f"{dims}.status = {p}")
            params.append(int(match[2]))
    return "(" + " OR ".join(parts) + ")", params


def series_filters(query: Query, dialect: Dialect = SQLITE,
                   dims: str = "s") -> tuple[list[str], list]:
    """WHERE conditions on the series dimensions (under alias `dims`) for the query's
    filters."""
    where: list[str] = []
    params: list = []
    for column, values in (("source", query.sources), ("host", query.hosts),
                           ("method", query.methods)):
        if values:
            where.append(f"{dims}.{column} IN ({dialect.params(len(values))})")
            params += list(values)
    if query.route_glob:
        where.append(f"{dims}.route {dialect.glob}")
        params.append(dialect.glob_pattern(query.route_glob))
    if query.statuses:
        condition, values = status_condition(query.statuses, dialect, dims)
        where.append(condition)
        params += values
    return where, params


def time_filters(query: Query, column: str, dialect: Dialect = SQLITE) -> tuple[list[str], list]:
    """Minute-bucket conditions: a bucket is in range when any of its minute is."""
    check_bounds(query)
    where, params = [], []
    if query.start is not None:
        where.append(f"{column} >= {dialect.param}")
        params.append(int(query.start // 60) * 60)
    if query.end is not None:
        where.append(f"{column} < {dialect.param}")
        params.append(query.end)
    return where, params


def span_filter(column: str, spans: Sequence[Span],
                dialect: Dialect = SQLITE) -> tuple[list[str], list]:
    """A condition that an integer `column` lies in one of the spans (open ends leave out a
    bound). Bounds go in as integers (m >= x iff m >= ceil(x) for an integer m), so
    PostgreSQL compares like types and can use indexes and prune partitions."""
    if not spans:
        return ["1 = 0"], []
    terms, params = [], []
    for low, high in spans:
        bounds = []
        if low != float("-inf"):
            bounds.append(f"{column} >= {dialect.param}")
            params.append(math.ceil(low))
        if high != float("inf"):
            bounds.append(f"{column} < {dialect.param}")
            params.append(math.ceil(high))
        terms.append(" AND ".join(bounds) or "1 = 1")
    if len(terms) == 1:
        return ([terms[0]] if params else []), params
    return ["(" + " OR ".join(f"({term})" for term in terms) + ")"], params


def check_bounds(query: Query) -> None:
    """Times and steps a database can hold: finite, from 1970 to the year 9999."""
    for name in ("start", "end"):
        value = getattr(query, name)
        if value is not None and not 0 <= value <= MAX_EPOCH:
            raise UsageError(f"{name} {value!r} is out of range: use a time from 1970 to 9999")
    if query.step_minutes is not None and not 1 <= query.step_minutes <= MAX_STEP_MINUTES:
        raise UsageError(f"step of {query.step_minutes!r} minutes is out of range: use 1 "
                         f"to {MAX_STEP_MINUTES} (a year)")


def bucket_expr(query: Query, column: str, seconds: int = 60) -> str:
    """The bucket start of a row's time (a multiple of `seconds`) for a time-series step,
    or NULL without a step. A step of the rows' own resolution is the column itself, which
    lets a read in time order group without sorting."""
    if not query.step_minutes:
        return "NULL"
    step = query.step_minutes * 60
    return column if step == seconds else f"({column} / {step}) * {step}"


def group_by(key: str, bucket: str) -> str:
    """GROUP BY the bucket and key a query has (NULL for none): a constant left in the
    clause keeps SQLite from grouping along an index, and the bucket first sorts rows that
    arrive in time order nearly as they come (a one-minute series by status over ten
    sparse days: 4.0 -> 2.9 s of SQL)."""
    named = [name for name, expr in (("bucket", bucket), ("key", key)) if expr != "NULL"]
    return " GROUP BY " + ", ".join(named or ["bucket", "key"])


def key_expr(query: Query, dims: str = "s") -> str:
    """The group key of a query's grouping (dimensions under alias `dims`), or NULL; the
    values of two dimensions are joined by KEY_SEP."""
    names = query.dimensions
    if not names:
        return "NULL"
    return f" || '{KEY_SEP}' || ".join(KEY_EXPR[name].format(s=dims) for name in names)


def points_from(query: Query, table: Table, dialect: Dialect = SQLITE, join: str = "",
                spans: Sequence[Span] | None = None) -> tuple[str, list]:
    """FROM a table of points (joined to `join`), WHERE the query's filters hold and the
    time lies in `spans` (default: the query's range)."""
    where, params = series_filters(query, dialect, table.dims)
    if spans is None:
        time_where, time_params = time_filters(query, table.time, dialect)
    else:
        check_bounds(query)
        time_where, time_params = span_filter(table.time, spans, dialect)
    where += time_where
    sql = f" FROM {table.body}" + (f" {join}" if join else "")
    return sql + (" WHERE " + " AND ".join(where) if where else ""), params + time_params


def points_sql(query: Query, table: Table, dialect: Dialect = SQLITE,
               spans: Sequence[Span] | None = None) -> tuple[str, list]:
    """SELECT merged points for a query from a table (within `spans`, default the query's
    range): counters summed per group key and bucket, and the merged histogram when the
    dialect merges it in the same SELECT."""
    key = key_expr(query, table.dims)
    bucket = bucket_expr(query, table.time, table.seconds)
    body, params = points_from(query, table, dialect, spans=spans)
    if dialect.hist_in_select and table.per_source and bucket == table.time:
        # A row per source and bucket: read as stored, the caller merges the few sources
        # (SQLite's aggregates cost more per one-row group than the row itself).
        hist = ", p.hist" if query.histograms else ", NULL"
        return (f"SELECT {key} AS key, {bucket} AS bucket, "
                f"{', '.join(f'p.{name}' for name in COUNTER_COLUMNS)}{hist}{body}", params)
    isum, fsum = dialect.int_sum.format, dialect.float_sum.format
    counters = ", ".join(isum(f"p.{c}") for c in COUNTER_COLUMNS[:5])
    hist = ""
    if dialect.hist_in_select:
        hist = f", {table.hist_agg}" if query.histograms else ", NULL"
    sql = (f"SELECT {key} AS key, {bucket} AS bucket, {counters},"
           f" {fsum('p.latency_sum')}, max(p.latency_max), min(p.first_ts), max(p.last_ts)"
           f"{hist}{body}{group_by(key, bucket)}")
    return sql, params


def malformed_sql(query: Query, unknown_minute: int,
                  dialect: Dialect = SQLITE) -> tuple[str, list] | None:
    """SELECT malformed counts keyed like the points, or None when the query's grouping or
    filters cannot apply to lines that did not parse."""
    if query.filters_records or query.group_by not in (None, "source"):
        return None
    where: list[str] = []
    params: list = []
    p = dialect.param
    if query.sources:
        where.append(f"m.source IN ({dialect.params(len(query.sources))})")
        params += list(query.sources)
    time_where, time_params = time_filters(query, "m.minute", dialect)
    if time_where:
        where += [*time_where, f"m.minute != {p}"]
        params += [*time_params, unknown_minute]
    if query.step_minutes:
        where.append(f"m.minute != {p}")
        params.append(unknown_minute)
    key = "m.source" if query.group_by == "source" else "NULL"
    sql = (
        f"SELECT {key} AS key, {bucket_expr(query, 'm.minute')} AS bucket,"
        f" {dialect.int_sum.format('m.count')} FROM malformed m"
        + (" WHERE " + " AND ".join(where) if where else "") + " GROUP BY key, bucket"
    )
    return sql, params


def source_totals(run: Callable[[str, list], Iterable[tuple]], dialect: Dialect,
                  points_sql: str) -> list[SourceTotals]:
    """Every source's totals, read with `run(sql, params)` (a connection's execute): from
    the points (`points_sql`: SELECT source, first, last, requests, errors per source), the
    malformed counts and the ledger, so a source whose every line was malformed is listed
    too."""
    isum = dialect.int_sum.format
    found: dict[str, SourceTotals] = {}
    for name, first, last, requests, errors in run(points_sql, []):
        found[name] = SourceTotals(name, first, last, requests, errors)
    for name, malformed in run(f"SELECT source, {isum('count')} FROM malformed"
                               " GROUP BY source", []):
        found.setdefault(name, SourceTotals(name)).malformed = malformed
    for name, source_id, batches, lines in run(
            f"SELECT source, source_id, count(*), {isum('lines')} FROM batches"
            " GROUP BY source, source_id ORDER BY source_id", []):
        each = found.setdefault(name, SourceTotals(name))
        each.batches += batches
        each.lines += lines
        each.source_ids.append(source_id)
    return sorted(found.values(), key=lambda s: s.name)


def forget_statements(dialect: Dialect, points: str) -> list[str]:
    """DELETEs of one source's data, each taking the source name; the points' first
    (`points`). Series rows stay: a writer may hold their ids cached, and an id must never
    point at a series that was deleted and made again."""
    p = dialect.param
    of_source = f"series_id IN (SELECT id FROM series WHERE source = {p})"
    return [points,
            f"DELETE FROM hour_points WHERE {of_source}",
            f"DELETE FROM day_points WHERE {of_source}",
            *(f"DELETE FROM {table} WHERE source = {p}"
              for table in ("source_points", "malformed", "malformed_samples", "batches"))]
