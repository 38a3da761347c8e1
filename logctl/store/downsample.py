"""Downsampling, shared by the stores: the minute points of an hour are folded into one
point per series at the hour's start (counters added, histograms merged, so every figure
of the hour stays exact), and malformed counts alike. Each hour is folded in one
transaction that deletes its minute rows with RETURNING and folds exactly the rows it
deleted: a writer's row committed meanwhile is either among them or stays a minute row
of its own, never lost."""

from collections.abc import Iterable

from logctl.metrics.points import Point, merge_point
from logctl.store.sql import SQLITE, Dialect

HOUR = 3600
HOURLY_BEFORE = "hourly_before"  # the meta key: points before this time are per hour


def hours_to_fold(dialect: Dialect = SQLITE) -> str:
    """SELECT the hours from a start to a cut-off (the parameters) still holding minute
    points (blocks)."""
    mod = "%%" if dialect.param == "%s" else "%"  # psycopg reads a lone % as a placeholder
    p = dialect.param
    return (f"SELECT DISTINCT minute - minute {mod} 3600 FROM blocks WHERE minute >= {p}"
            f" AND minute < {p} AND minute {mod} 3600 != 0 ORDER BY 1")


def delete_malformed_hour(dialect: Dialect = SQLITE) -> str:
    p = dialect.param
    return (f"DELETE FROM malformed WHERE minute >= {p} AND minute < {p}"
            " RETURNING source, count")


def hour_cut(epoch: float) -> int:
    """The hour boundary at or before `epoch`: only whole hours are folded."""
    return int(epoch // HOUR) * HOUR


def fold(points: Iterable[tuple[int, Point]]) -> dict[int, Point]:
    """(series id, point) pairs merged into one point per series."""
    folded: dict[int, Point] = {}
    for series, point in points:
        merge_point(folded, series, point)
    return folded


def fold_counts(rows: Iterable[tuple[str, int]]) -> dict[str, int]:
    """(source, count) pairs summed per source."""
    total: dict[str, int] = {}
    for source, count in rows:
        total[source] = total.get(source, 0) + count
    return total
