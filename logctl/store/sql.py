"""SQL for metric queries, shared by the stores: filters, grouping and bucketing of points
(joined to their series) and of malformed-line counts. The few spellings that differ between
SQLite and PostgreSQL live in a `Dialect`, so both stores answer from the same SQL."""

import re
from dataclasses import dataclass

from logctl.errors import UsageError
from logctl.store.base import DIMENSIONS, Query

_STATUS = re.compile(r"^([1-5])xx$|^(\d{3})$")
KEY_EXPR = {
    "route": "s.route", "status": "CAST(s.status AS TEXT)", "method": "s.method",
    "host": "s.host", "source": "s.source", "status_class": "(s.status / 100) || 'xx'",
}

MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z
MAX_STEP_MINUTES = 525_600


@dataclass(frozen=True)
class Dialect:
    """How one database spells parameters, route globs, sums and the histogram merge."""

    param: str
    glob: str
    int_sum: str
    float_sum: str
    hist_agg: str | None

    def params(self, count: int) -> str:
        """`count` comma-separated placeholders."""
        return ", ".join([self.param] * count)

    def glob_pattern(self, pattern: str) -> str:
        """The parameter for the route glob condition."""
        return pattern if self.glob.startswith("GLOB") else glob_to_regex(pattern)


SQLITE = Dialect("?", "GLOB ?", "sum({})", "total({})", "hist_merge_agg(p.hist)")
POSTGRES = Dialect("%s", "~ %s", "sum({})::bigint", "coalesce(sum({}), 0)::float8", None)


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


def status_condition(values: list[str] | tuple[str, ...],
                     dialect: Dialect = SQLITE) -> tuple[str, list[int]]:
    """'5xx', '404', '4xx,500' to a SQL condition on s.status."""
    parts, params = [], []
    p = dialect.param
    for value in (v.strip().lower() for raw in values for v in raw.split(",")):
        match = _STATUS.match(value)
        if not match:
            raise UsageError(f"bad status filter {value!r}: use a code (404) or a class (5xx)")
        if match[1]:
            parts.append(f"s.status BETWEEN {p} AND {p}")
            params += [int(match[1]) * 100, int(match[1]) * 100 + 99]
        else:
            parts.append(f"s.status = {p}")
            params.append(int(match[2]))
    return "(" + " OR ".join(parts) + ")", params


def series_filters(query: Query, dialect: Dialect = SQLITE) -> tuple[list[str], list]:
    """WHERE conditions on the series table `s` for the query's filters."""
    where: list[str] = []
    params: list = []
    for column, values in (("source", query.sources), ("host", query.hosts),
                           ("method", query.methods)):
        if values:
            where.append(f"s.{column} IN ({dialect.params(len(values))})")
            params += list(values)
    if query.route_glob:
        where.append(f"s.route {dialect.glob}")
        params.append(dialect.glob_pattern(query.route_glob))
    if query.statuses:
        condition, values = status_condition(query.statuses, dialect)
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


def check_bounds(query: Query) -> None:
    """Times and steps a database can hold: finite, from 1970 to the year 9999."""
    for name in ("start", "end"):
        value = getattr(query, name)
        if value is not None and not 0 <= value <= MAX_EPOCH:
            raise UsageError(f"{name} {value!r} is out of range: use a time from 1970 to 9999")
    if query.step_minutes is not None and not 1 <= query.step_minutes <= MAX_STEP_MINUTES:
        raise UsageError(f"step of {query.step_minutes!r} minutes is out of range: use 1 "
                         f"to {MAX_STEP_MINUTES} (a year)")


def bucket_expr(query: Query, column: str) -> str:
    """The bucket start of a minute for a time-series step, or NULL without a step."""
    if not query.step_minutes:
        return "NULL"
    step = query.step_minutes * 60
    return f"({column} / {step}) * {step}"


def key_expr(query: Query) -> str:
    """The group key of a query's grouping, or NULL without one."""
    if query.group_by is None:
        return "NULL"
    if query.group_by not in DIMENSIONS:
        raise UsageError(f"cannot group by {query.group_by!r}: use one of {', '.join(DIMENSIONS)}")
    return KEY_EXPR[query.group_by]


def points_from(query: Query, dialect: Dialect = SQLITE, join: str = "") -> tuple[str, list]:
    """FROM points joined to series (and `join`), WHERE the query's filters and time range
    hold."""
    where, params = series_filters(query, dialect)
    time_where, time_params = time_filters(query, "p.minute", dialect)
    where += time_where
    sql = " FROM points p JOIN series s ON s.id = p.series_id" + (f" {join}" if join else "")
    return sql + (" WHERE " + " AND ".join(where) if where else ""), params + time_params


def coverage_sql(query: Query, dialect: Dialect = SQLITE) -> tuple[str, list]:
    """SELECT the first/last request time under the filters, ignoring the time range."""
    where, params = series_filters(query, dialect)
    sql = "SELECT min(p.first_ts), max(p.last_ts) FROM points p JOIN series s ON s.id = p.series_id"
    return sql + (" WHERE " + " AND ".join(where) if where else ""), params


def points_sql(query: Query, dialect: Dialect = SQLITE) -> tuple[str, list]:
    """SELECT merged points for a query: counters summed per group key and bucket, and the
    merged histogram when the dialect can merge it in SQL."""
    key = key_expr(query)
    isum, fsum = dialect.int_sum.format, dialect.float_sum.format
    counters = ", ".join(isum(f"p.{c}") for c in ("count", "errors", "client_errors", "bytes",
                                                    "latency_count"))
    hist = f", {dialect.hist_agg}" if dialect.hist_agg else ""
    body, params = points_from(query, dialect)
    sql = (f"SELECT {key} AS key, {bucket_expr(query, 'p.minute')} AS bucket, {counters},"
           f" {fsum('p.latency_sum')}, max(p.latency_max), min(p.first_ts), max(p.last_ts)"
           f"{hist}{body} GROUP BY key, bucket")
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
