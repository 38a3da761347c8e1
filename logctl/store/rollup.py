"""Rollups: coarser copies of the stored minutes that queries read instead of the minutes'
blocks, kept as a derived cache that can always be rebuilt from them.

- `hour_points`: per series and hour, the merge of its minutes (queries with any filter or
  grouping, and steps of whole hours).
- `source_points`: per source and minute, the merge of all its series (queries without
  record filters, grouped by source or not at all, any step).
- `day_points`: per series and day, the merge of its hours (the whole days of a query
  `hour_points` would answer, with no step or a step of whole days): a week grouped by
  route reads 7 rows a series instead of 168. A day's rows are rebuilt from its hours
  whenever one of its hours is, and read only while none of its hours is dirty.

A change to points marks the hours it touched in `dirty_hours`, in its own transaction; the
rollups of a dirty hour are not trusted. (A SQLite batch adds its sums to the rollups of
the clean hours it writes instead, in its transaction, and marks only those already
dirty.) `refresh_rollups` rebuilds dirty hours later, each in one transaction that clears
its mark, so a rollup row is either exact or not read. A query
is planned into parts: rollup rows for clean hours it covers, the minutes' blocks for the rest (the
edge minutes of a partial hour and dirty hours)."""

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from logctl.store.base import Batch, Query
from logctl.store.sql import POINTS, Span, Table, check_bounds

DAY = 86400
HOUR = 3600
MINUTE = 60

HOUR_POINTS = Table("hour_points p JOIN series s ON s.id = p.series_id", "s", "p.hour",
                    "hist_sum_agg(p.hist)", HOUR)
SOURCE_POINTS = Table("source_points p", "p", "p.minute", "hist_sum_agg(p.hist)",
                      per_source=True)
DAY_POINTS = Table("day_points p JOIN series s ON s.id = p.series_id", "s", "p.day",
                   "hist_sum_agg(p.hist)", DAY)


@dataclass(frozen=True)
class Part:
    """One table a query reads, and the time spans it reads there."""

    table: Table
    spans: tuple[Span, ...]


def hours_of(minutes: Iterable[int]) -> list[int]:
    """The hours (epoch s) that minutes fall in, ascending, once each."""
    return sorted({minute // HOUR * HOUR for minute in minutes})


def batch_hours(batch: Batch) -> list[int]:
    """The hours a batch writes points in: what it makes dirty."""
    return hours_of(batch.aggregate.minutes())


def due_hours(dirty: list[tuple[int, float]], settled_before: float | None,
              passed_only: bool, limit: int | None) -> tuple[list[int], float | None]:
    """Which dirty (hour, marked_at) pairs to rebuild, oldest first, and the cutoff their
    marks must still be below when rebuilt: `settled_before`, lowered with `passed_only`
    to the newest mark, so the hours the latest batch wrote (the hour a writer is still
    filling) are left until a later batch has moved past them."""
    cutoff = settled_before
    if passed_only and dirty:
        newest = max(marked for _, marked in dirty)
        cutoff = newest if cutoff is None else min(cutoff, newest)
    return [hour for hour, marked in dirty if cutoff is None or marked < cutoff][:limit], cutoff


def rollup_for(query: Query) -> Table | None:
    """The rollup that can answer a query exactly, None when only points can."""
    if not query.filters_records and query.group_by in (None, "source"):
        return SOURCE_POINTS
    if query.step_minutes is None or query.step_minutes % 60 == 0:
        return HOUR_POINTS
    return None


def minute_span(query: Query) -> Span:
    """The query's range as points read it: from the start of its first minute to its end."""
    start = -math.inf if query.start is None else query.start // MINUTE * MINUTE
    return start, math.inf if query.end is None else query.end


def whole_hours(span: Span) -> Span:
    """The hours whose every minute lies in a minute span (empty when none does): a minute
    m is in the span when start <= m < end."""
    start, end = span
    first = start if start == -math.inf else math.ceil(start / HOUR) * HOUR
    last = end if end == math.inf else math.ceil((end - (HOUR - MINUTE)) / HOUR) * HOUR
    return first, max(first, last)


def plan(query: Query, dirty: Collection[int]) -> list[Part]:
    """The parts that answer a query: rollup rows where they cover it and are clean, points
    for the rest. Each minute of the range is read exactly once."""
    check_bounds(query)
    wanted = minute_span(query)
    table = rollup_for(query)
    rolled = wanted if table is SOURCE_POINTS else whole_hours(wanted)
    # Times before 1970 stay in points: SQL's integer division truncates toward zero, so a
    # step would bucket an hour row there apart from its minutes.
    rolled = (max(rolled[0], 0), rolled[1])
    if table is None or rolled[0] >= rolled[1]:
        return [Part(POINTS, (wanted,))]
    stale = [(hour, hour + HOUR) for hour in sorted(dirty)
             if hour + HOUR > rolled[0] and hour < rolled[1]]
    rollup_spans = subtract(rolled, stale)
    base_spans = coalesce([(wanted[0], rolled[0]), (rolled[1], wanted[1]),
                           *((max(low, wanted[0]), min(high, wanted[1])) for low, high in stale)])
    parts = [Part(table, tuple(rollup_spans))] if rollup_spans else []
    if table is HOUR_POINTS and (query.step_minutes or 0) % 1440 == 0:
        parts = by_days(rollup_spans)
    return parts + ([Part(POINTS, tuple(base_spans))] if base_spans else [])


def by_days(spans: list[Span]) -> list[Part]:
    """Clean hour spans split into the whole days inside them (read from `day_points`)
    and the hours left (from `hour_points`). A dirty hour is a hole between spans, so a
    whole day inside one span has no dirty hour."""
    days = [day for day in (whole_days(span) for span in spans) if day[0] < day[1]]
    hours = [piece for span in spans for piece in subtract(span, [d for d in days
                                                                 if span[0] <= d[0] < span[1]])]
    return ([Part(DAY_POINTS, tuple(days))] if days else []) + \
        ([Part(HOUR_POINTS, tuple(hours))] if hours else [])


def whole_days(span: Span) -> Span:
    """The days whose every hour lies in an hour span (empty when none does)."""
    start, end = span
    first = start if start == -math.inf else math.ceil(start / DAY) * DAY
    last = end if end == math.inf else end // DAY * DAY
    return first, max(first, last)


def subtract(span: Span, holes: list[Span]) -> list[Span]:
    """A span without sorted, disjoint holes, as the non-empty pieces left."""
    pieces, low = [], span[0]
    for hole_low, hole_high in holes:
        if hole_low > low:
            pieces.append((low, min(hole_low, span[1])))
        low = max(low, hole_high)
    if low < span[1]:
        pieces.append((low, span[1]))
    return [piece for piece in pieces if piece[0] < piece[1]]


def coalesce(spans: list[Span]) -> list[Span]:
    """Non-empty spans sorted, with touching or overlapping ones joined."""
    joined: list[Span] = []
    for low, high in sorted(span for span in spans if span[0] < span[1]):
        if joined and low <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], high))
        else:
            joined.append((low, high))
    return joined
