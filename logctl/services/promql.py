"""A PromQL subset over the stored log metrics, for Grafana's Prometheus data source and
promtool. Expressions are parsed by `promql-parser` (the Rust parser Prometheus-compatible
tools share) and evaluated here against the store's merged rows.

What is answered: selectors (`= != =~ !~`, `offset`), `rate` and `increase`,
`sum|avg|min|max|count` with `by`/`without`, `topk`/`bottomk`, `histogram_quantile`,
arithmetic and comparisons between vectors and scalars (one-to-one, `on`/`ignoring`,
`bool`). Anything else is refused with `Unsupported`, naming the part.

Two differences from Prometheus, both because the data is exact per-minute counts rather
than scraped samples: a counter at time t is the sum of every stored minute before t's
minute, so `increase(x[r])` is exactly the requests of the whole minutes in the window
(no extrapolation) and `rate` is that over the window's seconds; ranges count whole
minutes (at least one). And `histogram_quantile` is answered from the merged logctl
histogram behind the buckets, within the store's 1%, not by interpolating buckets."""

import math
import operator
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import reduce
from typing import Any

import promql_parser as pq

from logctl.errors import UsageError
from logctl.metrics import sketch
from logctl.services.analytics import QueryClient
from logctl.services.promseries import (
    BUCKET,
    COUNT,
    FAMILIES,
    LABELS,
    LE,
    MALFORMED,
    NAME,
    STORED,
    Family,
    Labels,
    readings,
    row_labels,
    stored_dims,
)
from logctl.store.base import Query, Row

MINUTE = 60
MAX_POINTS = 11_000  # per series, as Prometheus limits a range query's resolution
GLOB_CHARS = set("*?[]")

Values = list[float | None]  # one value per evaluation time, None where absent


class Execution(UsageError):
    """An expression that parses but cannot be evaluated (HTTP 422, as Prometheus)."""


class Unsupported(Execution):
    """An expression outside the subset logctl answers (HTTP 422)."""


@dataclass
class Scalar:
    values: list[float]


@dataclass
class Vector:
    series: dict[Labels, Values]


Result = Scalar | Vector


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str  # =, !=, =~, !~
    value: str

    def holds(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = _regex(self.value).fullmatch(actual) is not None
        return found if self.op == "=~" else not found


def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"bad regular expression {pattern!r}: {exc}") from exc


_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~",
        "MatchOp.NotRe": "!~"}


def parse(text: str) -> Any:
    """The expression's syntax tree; a syntax error is a UsageError (HTTP 400)."""
    try:
        return pq.parse(text)
    except ValueError as exc:
        raise UsageError(f"cannot parse {text!r}: {exc}") from exc


@dataclass(frozen=True)
class Selector:
    """A vector selector: the families its name picks and its label matchers."""

    families: tuple[Family, ...]
    matchers: tuple[Matcher, ...]
    offset: float
    histograms: bool = False  # whether its rows need their histograms (buckets do)

    @classmethod
    def of(cls, node: Any) -> "Selector":
        if node.at is not None:
            raise Unsupported("the @ modifier is not supported: use offset")
        if node.matchers.or_matchers:
            raise Unsupported("'or' inside a selector is not supported")
        matchers = [Matcher(m.name, _OPS[str(m.op)], m.value) for m in node.matchers.matchers
                    if not (str(m.op) == "MatchOp.Re" and m.value == ".*")]  # Grafana's All
        names = [m for m in matchers if m.name == NAME]
        if node.name:
            names.append(Matcher(NAME, "=", node.name))
        families = tuple(f for f in FAMILIES.values()
                         if all(m.holds({NAME: f.name}) for m in names))
        offset = node.offset.total_seconds() if node.offset is not None else 0.0
        return cls(families, tuple(m for m in matchers if m.name != NAME), offset,
                   histograms=FAMILIES[BUCKET] in families)

    def labels_used(self) -> set[str]:
        return {m.name for m in self.matchers} & set(LABELS)

    def query(self, dims: tuple[str, ...], start: float | None, end: float | None,
              step: int | None, malformed: bool = False) -> Query:
        """The store query for this selector's rows: equality matchers go to the store as
        filters (the rest are applied to the rows)."""
        equal = {m.name: m.value for m in self.matchers if m.op == "=" and m.value}
        statuses = [equal[n] for n in ("status", "status_class") if n in equal]
        route = equal.get("route")
        if malformed:
            return Query(start=start, end=end, sources=_one(equal.get("source")),
                         group_by="source" if "source" in dims else None, step_minutes=step,
                         histograms=False)
        return Query(start=start, end=end, sources=_one(equal.get("source")),
                     hosts=_one(equal.get("host")), methods=_one(equal.get("method")),
                     statuses=tuple(s for s in statuses if _status_filter(s)),
                     route_glob=route if route and not GLOB_CHARS & set(route) else None,
                     group_by=",".join(dims) or None, step_minutes=step,
                     histograms=self.histograms)


def _one(value: str | None) -> tuple[str, ...]:
    return (value,) if value else ()


def _status_filter(value: str) -> bool:
    return (len(value) == 3 and value.isdigit()) or (
        len(value) == 3 and value[0] in "12345" and value[1:] == "xx")


@dataclass(frozen=True)
class Windows:
    """The [lo, hi) minute-aligned windows an expression reads, one per evaluation time
    (lo None: from the beginning, a counter's value)."""

    lo: tuple[int | None, ...]
    hi: tuple[int, ...]

    @property
    def cumulative(self) -> bool:
        return self.lo[0] is None

    @property
    def start(self) -> int:
        """Where the bucketed read starts: the first window's start, or for counters the
        first time (what lies before is read as one total)."""
        if self.cumulative:
            return min(self.hi)
        return min(lo for lo in self.lo if lo is not None)

    def step(self) -> int:
        """The coarsest bucket (minutes) every window boundary falls on, so the store can
        answer in as few rows as possible (whole hours read its rollups)."""
        bounds = [b // MINUTE for b in (*self.hi, *(lo for lo in self.lo if lo is not None))]
        return reduce(math.gcd, bounds) or 1


class Evaluator:
    """Evaluates PromQL over a store client at one or more times (epoch seconds)."""

    def __init__(self, client: QueryClient, max_cells: int | None = None) -> None:
        self.client = client
        self.max_cells = max_cells

    def instant(self, text: str, at: float) -> Result:
        return self._evaluate(text, (at,))

    def range(self, text: str, start: float, end: float, step: float) -> Result:
        if step <= 0:
            raise UsageError("zero or negative query resolution step widths are not "
                             "accepted: try a positive integer")
        if end < start:
            raise UsageError("end timestamp must not be before start time")
        count = int((end - start) // step) + 1
        if count > MAX_POINTS:
            raise UsageError(f"exceeded maximum resolution of {MAX_POINTS:,} points per "
                             "timeseries: try decreasing the query resolution (?step=XX)")
        return self._evaluate(text, tuple(start + i * step for i in range(count)))

    def _evaluate(self, text: str, times: tuple[float, ...]) -> Result:
        node = parse(text)
        return _Run(self.client, times, self.max_cells).eval(node, None)

    def series(self, matches: Sequence[str], start: float | None,
               end: float | None) -> list[dict[str, str]]:
        """The label sets of every series a `match[]` selector picks with data in range."""
        found: dict[Labels, None] = {}
        run = _Run(self.client, (end or 0.0,), self.max_cells)
        for text in matches:
            node = parse(text)
            if not isinstance(node, pq.VectorSelector):
                raise UsageError(f"match[] {text!r} is not a series selector")
            selector = Selector.of(node)
            for labels, _ in run.rows_of(selector, None, Query(start=start, end=end)):
                found[labels] = None
        return [dict(labels) for labels in sorted(found)]


    def totals(self) -> dict[Labels, float]:
        """Every series' value now: the sums of all stored minutes (what `/metrics`
        exposes when the stored log metrics are exported for scraping)."""
        found: dict[Labels, float] = {}
        run = _Run(self.client, (0.0,), self.max_cells)
        every = Selector(tuple(FAMILIES.values()), (), 0.0)
        for labels, (_, value) in run.rows_of(every, None, Query()):
            found[labels] = found.get(labels, 0.0) + value
        return found


class _Run:
    """One evaluation: the times it is at and the store it reads."""

    def __init__(self, client: QueryClient, times: tuple[float, ...],
                 max_cells: int | None) -> None:
        self.client = client
        self.times = times
        self.max_cells = max_cells
        self.read: dict[Query, list[Row]] = {}  # store reads, once each per evaluation

    def rows(self, query: Query) -> list[Row]:
        """The store's rows for a query, read once per evaluation: a 5xx ratio's errors and
        requests ask the store the same thing."""
        if query not in self.read:
            self.read[query] = self.client.query(query)
        return self.read[query]

    def eval(self, node: Any, keep: frozenset[str] | None) -> Result:
        """The value of a node; `keep`, when a sum above will group by those labels only,
        lets selectors read the store grouped that coarsely (sums commute with rate)."""
        kind = type(node).__name__
        if kind == "NumberLiteral":
            return Scalar([float(node.val)] * len(self.times))
        if kind == "ParenExpr":
            return self.eval(node.expr, keep)
        if kind == "UnaryExpr":
            return _negate(self.eval(node.expr, keep))
        if kind == "VectorSelector":
            return self.select(Selector.of(node), keep, None)
        if kind == "Call":
            return self.call(node, keep)
        if kind == "AggregateExpr":
            return self.aggregate(node)
        if kind == "BinaryExpr":
            return self.binary(node)
        if kind == "MatrixSelector":
            raise Unsupported("a range vector on its own is not supported: wrap it in "
                              "rate() or increase()")
        if kind == "SubqueryExpr":
            raise Unsupported("subqueries are not supported")
        raise Unsupported(f"{kind} expressions are not supported")

    def windows(self, offset: float, span: float | None) -> Windows:
        hi = tuple(int((t - offset) // MINUTE) * MINUTE for t in self.times)
        if span is None:
            return Windows(tuple(None for _ in hi), hi)
        minutes = max(1, int(span // MINUTE))
        return Windows(tuple(h - minutes * MINUTE for h in hi), hi)

    def rows_of(self, selector: Selector, keep: frozenset[str] | None,
                query: Query) -> Iterable[tuple[Labels, tuple[Row, float]]]:
        """Each (series labels, (row, value)) the selector picks from the store's rows for
        a query's range and step, projected onto `keep` when given."""
        wanted = (set(LABELS) if keep is None else set(keep) & set(LABELS))
        dims = stored_dims(wanted | selector.labels_used())
        point_families = [f for f in selector.families if f.name != MALFORMED]
        parts: list[tuple[list[Family], Query]] = []
        if point_families:
            parts.append((point_families, selector.query(dims, query.start, query.end,
                                                         query.step_minutes)))
        if len(point_families) < len(selector.families):
            parts.append(([FAMILIES[MALFORMED]], selector.query(
                ("source",) if "source" in dims else (), query.start, query.end,
                query.step_minutes, malformed=True)))
        on_rows = [m for m in selector.matchers if m.name != LE]
        on_buckets = [m for m in selector.matchers if m.name == LE]  # `le` comes with readings
        for families, store_query in parts:
            for row in self.rows(store_query):
                labels = row_labels(row, store_query.dimensions)
                if not all(m.holds(labels) for m in on_rows):
                    continue
                if keep is not None:
                    labels = {k: v for k, v in labels.items() if k in keep}
                for family in families:
                    for series, value in readings(family, row, labels):
                        if not on_buckets or all(m.holds(dict(series)) for m in on_buckets):
                            yield series, (row, value)

    def _check_cells(self, windows: Windows, step: int) -> None:
        buckets = (max(windows.hi) - windows.start) // (step * MINUTE)
        if self.max_cells is not None and buckets > self.max_cells:
            raise Unsupported(f"reading {buckets:,} time buckets is over the limit of "
                              f"{self.max_cells:,}: use a larger step or a shorter range")

    def series_buckets(self, selector: Selector, keep: frozenset[str] | None,
                       windows: Windows) -> dict[Labels, dict[int, list[tuple[Row, float]]]]:
        """Per series, its rows by bucket start over the windows' span (a cumulative read
        puts everything before the first window under bucket -1). One window is read
        whole, with no step, so the store answers it from its rollups."""
        found: dict[Labels, dict[int, list[tuple[Row, float]]]] = {}
        start = windows.start
        reads: list[tuple[Query, int | None]] = []
        if len(windows.hi) == 1:
            if start < windows.hi[0]:
                reads.append((Query(start=start, end=windows.hi[0]), start))
        else:
            step = windows.step()
            self._check_cells(windows, step)
            reads.append((Query(start=start, end=max(windows.hi), step_minutes=step), None))
        if windows.cumulative:
            reads.append((Query(end=start), -1))
        for query, bucket in reads:
            if query.start is not None and query.start >= (query.end or 0):
                continue
            for labels, item in self.rows_of(selector, keep, query):
                at = item[0].bucket if bucket is None else bucket
                found.setdefault(labels, {}).setdefault(at or 0, []).append(item)
        return found

    def select(self, selector: Selector, keep: frozenset[str] | None,
               span: float | None, per_second: bool = False) -> Vector:
        """A selector's values at each time: the counter (span None) or its increase over
        the span, per second with `per_second`; the metric name only on plain counters."""
        windows = self.windows(selector.offset, span)
        seconds = (windows.hi[0] - windows.lo[0]) if not windows.cumulative else 1
        out: dict[Labels, Values] = {}
        for labels, buckets in self.series_buckets(selector, keep, windows).items():
            starts = sorted(buckets)
            sums = [0.0]
            for at in starts:
                sums.append(sums[-1] + sum(value for _, value in buckets[at]))
            values: Values = []
            for lo, hi in zip(windows.lo, windows.hi, strict=True):
                first = 0 if lo is None else bisect_left(starts, lo)
                last = bisect_left(starts, hi)
                total = sums[last] - sums[first]
                values.append(None if last == first else
                              total / seconds if per_second else total)
            if span is not None:
                labels = tuple(pair for pair in labels if pair[0] != NAME)
            _add_series(out, labels, values)
        return Vector(out)

    def call(self, node: Any, keep: frozenset[str] | None) -> Result:
        name = node.func.name
        args = list(node.args)
        if name in ("rate", "increase"):
            matrix = args[0]
            if type(matrix).__name__ == "SubqueryExpr":
                raise Unsupported("subqueries are not supported")
            if type(matrix).__name__ != "MatrixSelector":
                raise Unsupported(f"{name}() needs a range selector such as x[5m]")
            return self.select(Selector.of(matrix.vector_selector), keep,
                               _seconds(matrix.range), per_second=name == "rate")
        if name == "histogram_quantile":
            return self.quantile(args[0], args[1])
        raise Unsupported(f"function {name}() is not supported: use rate, increase, "
                          "histogram_quantile or an aggregation")

    def scalar(self, node: Any) -> list[float]:
        value = self.eval(node, None)
        if not isinstance(value, Scalar):
            raise Unsupported("a scalar (a number) is needed here")
        return value.values

    def quantile(self, phi_node: Any, node: Any) -> Vector:
        """histogram_quantile over `sum by (le, ...) (rate(<bucket>[r]))` (or rate alone),
        from the merged histograms of each group's window: the quantile in seconds."""
        phis = self.scalar(phi_node)
        group, call = _quantile_shape(_unparen(node))
        matrix = next(iter(call.args))
        selector = Selector.of(matrix.vector_selector)
        if [f.name for f in selector.families] != [BUCKET]:
            raise Unsupported(f"histogram_quantile reads {BUCKET} only")
        if LE in {m.name for m in selector.matchers}:
            raise Unsupported("histogram_quantile answers from the whole histogram: leave "
                              "out matchers on le")
        # The rows behind the buckets, read once per row (the count has no `le`).
        selector = replace(selector, families=(FAMILIES[COUNT],), histograms=True)
        windows = self.windows(selector.offset, _seconds(matrix.range))
        out: dict[Labels, Values] = {}
        for labels, buckets in self.series_buckets(selector, frozenset(group), windows).items():
            base = _drop_name(labels)
            starts = sorted(buckets)
            values: Values = []
            for i, (lo, hi) in enumerate(zip(windows.lo, windows.hi, strict=True)):
                rows = [row for at in starts[bisect_left(starts, lo):bisect_left(starts, hi)]
                        for row, _ in buckets[at]]
                values.append(_histogram_quantile(phis[i], rows))
            _add_series(out, base, values)
        return Vector(out)

    def aggregate(self, node: Any) -> Vector:
        op = str(node.op)
        modifier = node.modifier
        by = modifier is None or modifier.type == pq.AggModifierType.By
        names = set(modifier.labels) if modifier is not None else set()
        if op == "sum":
            keep = frozenset(names if by else (set(LABELS) | {LE}) - names)
            child = self.eval(node.expr, keep)
        else:
            child = self.eval(node.expr, None)
        if not isinstance(child, Vector):
            raise Unsupported(f"{op}() needs a vector")

        def group_of(labels: Labels) -> Labels:
            if by:
                return tuple(pair for pair in labels if pair[0] in names)
            return tuple(pair for pair in labels if pair[0] not in names and pair[0] != NAME)

        if op in ("topk", "bottomk"):
            return self._ranked(child, self.scalar(node.param), group_of, op == "topk")
        if op not in _AGGREGATES:
            raise Unsupported(f"aggregation {op}() is not supported: use sum, avg, min, max, "
                              "count, topk or bottomk")
        groups: dict[Labels, list[Values]] = {}
        for labels, values in child.series.items():
            groups.setdefault(group_of(labels), []).append(values)
        fold = _AGGREGATES[op]
        out: dict[Labels, Values] = {}
        for labels, members in groups.items():
            values = []
            for i in range(len(self.times)):
                present = [v[i] for v in members if v[i] is not None]
                values.append(fold(present) if present else None)
            out[labels] = values
        return Vector(out)

    def _ranked(self, child: Vector, ks: list[float],
                group_of: Callable[[Labels], Labels], largest: bool) -> Vector:
        out: dict[Labels, Values] = {labels: [None] * len(self.times) for labels in child.series}
        groups: dict[Labels, list[Labels]] = {}
        for labels in child.series:
            groups.setdefault(group_of(labels), []).append(labels)
        for i, k in enumerate(ks):
            if not math.isfinite(k):
                raise Execution(f"the number of series to keep is {k}: use a number")
            for members in groups.values():
                present = [(child.series[m][i], m) for m in members
                           if child.series[m][i] is not None]
                present.sort(key=lambda vm: (math.isnan(vm[0]),
                                             -vm[0] if largest else vm[0], vm[1]))
                for value, labels in present[:max(0, int(k))]:
                    out[labels][i] = value
        return Vector({k: v for k, v in out.items() if any(x is not None for x in v)})

    def binary(self, node: Any) -> Result:
        op = str(node.op)
        if op in ("and", "or", "unless"):
            raise Unsupported(f"the set operator {op} is not supported")
        if op not in _ARITHMETIC and op not in _COMPARISONS:
            raise Unsupported(f"the operator {op} is not supported")
        modifier = node.modifier
        as_bool = bool(modifier and modifier.return_bool)
        lhs, rhs = self.eval(node.lhs, None), self.eval(node.rhs, None)
        if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
            return Scalar([_scalar_op(op, a, b) for a, b in zip(lhs.values, rhs.values,
                                                                 strict=True)])
        if isinstance(lhs, Vector) and isinstance(rhs, Vector):
            return self._vector_vector(op, lhs, rhs, modifier, as_bool)
        vector, scalar, flipped = ((lhs, rhs, False) if isinstance(lhs, Vector)
                                   else (rhs, lhs, True))
        assert isinstance(vector, Vector) and isinstance(scalar, Scalar)
        keep_name = op in _COMPARISONS and not as_bool
        out: dict[Labels, Values] = {}
        for labels, values in vector.series.items():
            result = [None if v is None else
                      _apply(op, s if flipped else v, v if flipped else s, as_bool, v)
                      for v, s in zip(values, scalar.values, strict=True)]
            if any(x is not None for x in result):
                _add_series(out, labels if keep_name else _drop_name(labels), result)
        return Vector(out)

    def _vector_vector(self, op: str, lhs: Vector, rhs: Vector, modifier: Any,
                       as_bool: bool) -> Vector:
        """One-to-one matching, step by step (as Prometheus, a duplicate is an error only
        at a step where both are present)."""
        matching = modifier.matching if modifier is not None else None
        if modifier is not None and modifier.card != pq.VectorMatchCardinality.OneToOne:
            raise Unsupported("group_left and group_right are not supported: match one to one")
        on = matching is not None and matching.type == pq.LabelModifierType.Include
        names = set(matching.labels) if matching is not None else set()

        def signature(labels: Labels) -> Labels:
            if on:
                return tuple(pair for pair in labels if pair[0] in names)
            return tuple(pair for pair in labels if pair[0] not in names and pair[0] != NAME)

        def result_labels(labels: Labels) -> Labels:
            named = labels if op in _COMPARISONS and not as_bool else _drop_name(labels)
            return tuple(p for p in named if (p[0] in names) == on)

        out: dict[Labels, Values] = {}
        for i in range(len(self.times)):
            right: dict[Labels, float] = {}
            for labels, values in rhs.series.items():
                if values[i] is None:
                    continue
                if signature(labels) in right:
                    raise Execution("found duplicate series for the match group on the right "
                                    "hand-side of the operation: many-to-many matching is "
                                    "not supported")
                right[signature(labels)] = values[i]
            seen: set[Labels] = set()
            for labels, values in lhs.series.items():
                a, b = values[i], right.get(signature(labels))
                if a is None or b is None:
                    continue
                if signature(labels) in seen:
                    raise Execution("multiple matches for labels: many-to-one matching must "
                                    "be explicit (group_left/group_right)")
                seen.add(signature(labels))
                value = _apply(op, a, b, as_bool, a)
                if value is not None:
                    out.setdefault(result_labels(labels), [None] * len(self.times))[i] = value
        return Vector(out)


def _quantile_shape(node: Any) -> tuple[set[str], Any]:
    """The group labels and the rate()/increase() call of histogram_quantile's argument."""
    group: set[str] = set(LABELS)
    if type(node).__name__ == "AggregateExpr":
        modifier = node.modifier
        if str(node.op) != "sum":
            raise Unsupported("histogram_quantile needs sum by (le, ...) of its buckets")
        names = set(modifier.labels) if modifier is not None else set()
        by = modifier is None or modifier.type == pq.AggModifierType.By
        if (by and LE not in names) or (not by and LE in names):
            raise Unsupported("histogram_quantile needs its sum to keep le: sum by (le, ...)")
        group = names - {LE} if by else set(LABELS) - names
        node = _unparen(node.expr)
    if type(node).__name__ != "Call" or node.func.name not in ("rate", "increase") or \
            type(next(iter(node.args))).__name__ != "MatrixSelector":
        raise Unsupported(f"histogram_quantile is answered from logctl's histograms: give "
                          f"it sum by (le, ...) (rate({BUCKET}[5m]))")
    return group | {LE}, node


def _histogram_quantile(phi: float, rows: list[Row]) -> float | None:
    timed = [row.point for row in rows if row.point.latency_count]
    if not timed:
        return None
    if math.isnan(phi):
        return math.nan
    if phi < 0:
        return -math.inf
    if phi > 1:
        return math.inf
    hist: sketch.Histogram = {}
    for point in timed:
        sketch.merge_into(hist, point.hist)
    value = sketch.quantile(hist, phi, max(p.latency_max for p in timed))
    return None if value is None else value / 1000


def _unparen(node: Any) -> Any:
    while type(node).__name__ == "ParenExpr":
        node = node.expr
    return node


def _seconds(span: timedelta) -> float:
    return span.total_seconds()


def _drop_name(labels: Labels) -> Labels:
    return tuple(pair for pair in labels if pair[0] != NAME)


def _add_series(out: dict[Labels, Values], labels: Labels, values: Values) -> None:
    """Add a series; two that dropping the metric name made alike are an error, as in
    Prometheus (summing them would add requests to bytes)."""
    if labels in out:
        raise Execution("vector cannot contain metrics with the same labelset: "
                        f"{dict(labels)}")
    out[labels] = values


def _negate(value: Result) -> Result:
    if isinstance(value, Scalar):
        return Scalar([-v for v in value.values])
    out: dict[Labels, Values] = {}
    for labels, values in value.series.items():
        _add_series(out, _drop_name(labels), [None if x is None else -x for x in values])
    return Vector(out)


def _divide(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
    return a / b


def _modulo(a: float, b: float) -> float:
    return math.nan if b == 0 else math.fmod(a, b)


def _power(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except (OverflowError, ValueError):
        return math.nan


_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": _divide, "%": _modulo,
    "^": _power}
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt,
    ">=": operator.ge, "<=": operator.le}
_AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "sum": math.fsum, "avg": lambda v: math.fsum(v) / len(v), "min": min, "max": max,
    "count": lambda v: float(len(v))}


def _scalar_op(op: str, a: float, b: float) -> float:
    """Between two scalars: arithmetic, or a comparison as 1/0 (PromQL requires bool)."""
    if op in _ARITHMETIC:
        return _ARITHMETIC[op](a, b)
    return 1.0 if _COMPARISONS[op](a, b) else 0.0


def _apply(op: str, a: float, b: float, as_bool: bool, kept: float) -> float | None:
    """`a op b` on a vector's sample: arithmetic gives its value; a comparison gives 1/0
    with `bool`, else the vector's value `kept` where it holds and None where not."""
    if op in _ARITHMETIC:
        return _ARITHMETIC[op](a, b)
    holds = _COMPARISONS[op](a, b)
    if as_bool:
        return 1.0 if holds else 0.0
    return kept if holds else None


__all__ = ["STORED", "Evaluator", "Result", "Scalar", "Unsupported", "Vector"]
