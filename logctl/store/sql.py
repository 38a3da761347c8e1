"""SQL for metric queries, shared by the stores: filters, grouping and bucketing of points
(joined to their series) and of malformed-line counts."""

import re

from logctl.errors import UsageError
from logctl.store.base import DIMENSIONS, Query

_STATUS = re.compile(r"^([1-5])xx$|^(\d{3})$")
KEY_EXPR = {
    "route": "s.route", "status": "CAST(s.status AS TEXT)", "method": "s.method",
    "host": "s.host", "source": "s.source", "status_class": "(s.status / 100) || 'xx'",
}


def status_condition(values: list[str] | tuple[str, ...]) -> tuple[str, list[int]]:
    """'5xx', '404', '4xx,500' to a SQL condition on s.status."""
    parts, params = [], []
    for value in (v.strip().lower() for raw in values for v in raw.split(",")):
        match = _STATUS.match(value)
        if not match:
            raise UsageError(f"bad status filter {value!r}: use a code (404) or a class (5xx)")
        if match[1]:
            parts.append("s.status BETWEEN ? AND ?")
            params += [int(match[1]) * 100, int(match[1]) * 100 + 99]
        else:
            parts.append("s.status = ?")
            params.append(int(match[2]))
    return "(" + " OR ".join(parts) + ")", params


def series_filters(query: Query) -> tuple[list[str], list]:
    """WHERE conditions on the series table `s` for the query's filters."""
    where: list[str] = []
    params: list = []
    for column, values in (("source", query.sources), ("host", query.hosts),
                           ("method", query.methods)):
        if values:
            where.append(f"s.{column} IN ({', '.join('?' * len(values))})")
            params += list(values)
    if query.route_glob:
        where.append("s.route GLOB ?")
        params.append(query.route_glob)
    if query.statuses:
        condition, values = status_condition(query.statuses)
        where.append(condition)
        params += values
    return where, params


def time_filters(query: Query, column: str) -> tuple[list[str], list]:
    """Minute-bucket conditions: a bucket is in range when any of its minute is."""
    where, params = [], []
    if query.start is not None:
        where.append(f"{column} >= ?")
        params.append(int(query.start // 60) * 60)
    if query.end is not None:
        where.append(f"{column} < ?")
        params.append(query.end)
    return where, params


def bucket_expr(query: Query, column: str) -> str:
    """The bucket start of a minute for a time-series step, or NULL without a step."""
    if not query.step_minutes:
        return "NULL"
    step = query.step_minutes * 60
    return f"({column} / {step}) * {step}"


def points_sql(query: Query, coverage: bool = False) -> tuple[str, list]:
    """SELECT merged points for a query; with `coverage`, the first/last time instead
    (under the filters, ignoring the time range)."""
    if query.group_by is not None and query.group_by not in DIMENSIONS:
        raise UsageError(f"cannot group by {query.group_by!r}: use one of {', '.join(DIMENSIONS)}")
    where, params = series_filters(query)
    if coverage:
        sql = ("SELECT min(p.first_ts), max(p.last_ts) FROM points p"
               " JOIN series s ON s.id = p.series_id")
        return sql + (" WHERE " + " AND ".join(where) if where else ""), params
    time_where, time_params = time_filters(query, "p.minute")
    where += time_where
    key = KEY_EXPR[query.group_by] if query.group_by else "NULL"
    sql = (
        f"SELECT {key} AS key, {bucket_expr(query, 'p.minute')} AS bucket, sum(p.count),"
        " sum(p.errors), sum(p.client_errors), sum(p.bytes), sum(p.latency_count),"
        " total(p.latency_sum), max(p.latency_max), min(p.first_ts), max(p.last_ts),"
        " hist_merge_agg(p.hist)"
        " FROM points p JOIN series s ON s.id = p.series_id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " GROUP BY key, bucket"
    )
    return sql, params + time_params


def malformed_sql(query: Query, unknown_minute: int) -> tuple[str, list] | None:
    """SELECT malformed counts keyed like the points, or None when the query's grouping or
    filters cannot apply to lines that did not parse."""
    if query.filters_records or query.group_by not in (None, "source"):
        return None
    where: list[str] = []
    params: list = []
    if query.sources:
        where.append(f"m.source IN ({', '.join('?' * len(query.sources))})")
        params += list(query.sources)
    time_where, time_params = time_filters(query, "m.minute")
    if time_where:
        where += [*time_where, "m.minute != ?"]
        params += [*time_params, unknown_minute]
    if query.step_minutes:
        where.append("m.minute != ?")
        params.append(unknown_minute)
    key = "m.source" if query.group_by == "source" else "NULL"
    sql = (
        f"SELECT {key} AS key, {bucket_expr(query, 'm.minute')} AS bucket, sum(m.count)"
        " FROM malformed m" + (" WHERE " + " AND ".join(where) if where else "")
        + " GROUP BY key, bucket"
    )
    return sql, params
