"""The native engine for the CLF family: the same aggregate as `aggregate_lines` with a
CombinedParser, from one C pass over the chunk (`_clf.c`) that parses and groups the lines
of the common shapes (combined with any trailing fields, vhost prefixes, X-Forwarded-For
client lists); the groups wait in the aggregate until they are read as points or written
as rows (`_clf.rows`), and what is left is parsed with the line parser.

Exactness: the scanner accepts a strict subset of what CombinedParser accepts and reads
the same fields; route folding, merging and the placement of malformed lines are the line
engine's own, so the points are identical (latency sums up to float rounding).
"""

from logctl.formats.combined import RT_UNITS
from logctl.formats.lines import parse_bounded
from logctl.formats.record import LineParser
from logctl.metrics import sketch
from logctl.metrics.points import ChunkAggregate, Group, add_record

try:
    from logctl.metrics import _clf
except ImportError:  # built without a C compiler: the columnar engine takes over
    _clf = None

AVAILABLE = _clf is not None


def aggregate_clf(data: bytes, rt_unit: str, fallback: LineParser) -> ChunkAggregate:
    """Aggregate a chunk of CLF lines; `fallback` parses the lines the scanner leaves."""
    assert _clf is not None, "the native engine was not built"
    scale = RT_UNITS[rt_unit] or 0.0
    groups, leftovers, counted, first_index, first_minute = _clf.scan(
        data, scale, sketch.LN_GAMMA, sketch.MIN_BIN)
    result = ChunkAggregate(lines=counted)
    if leftovers:
        _parse_leftovers(result, leftovers, fallback,
                         first_minute if first_index >= 0 else None)
    if groups:
        result.groups.append(groups)
    return result


def group_rows(groups: list[list[Group]],
               series: dict[tuple[str, str, str, int], int]) -> list[tuple]:
    """Point rows (series id, minute, seven counters, compact histogram, first, last) of an
    aggregate's waiting groups (the scanner's or a columnar engine's), built in C with no
    Point between (in Python where C was not built): `series` maps each group's (host,
    method, path, status) to its series id."""
    if _clf is not None:
        return _clf.rows(groups, series, sketch.compactor())
    return [(series[group[1:5]], group[0], *group[5][:7], sketch.compact(group[6]),
             *group[5][7:]) for each in groups for group in each]


def chunked(rows: list[tuple], per: int) -> tuple[list[tuple], list[tuple]]:
    """Rows `per` at a time joined into one tuple each (the parameters of a statement that
    inserts `per` rows), and the rows left over: in C where built."""
    if _clf is not None:
        return _clf.chunked(rows, per)
    whole = len(rows) // per * per
    return ([tuple(value for row in rows[start:start + per] for value in row)
             for start in range(0, whole, per)], rows[whole:])


def _parse_leftovers(result: ChunkAggregate, leftovers: list[tuple], parse: LineParser,
                     first_counted: int | None) -> None:
    """Parse the lines the scanner left, in order, placing each malformed one at the minute
    of the nearest good line before it (scanned or parsed here), or after it at the chunk's
    start, as `aggregate_lines` does."""
    last_index, last_minute = -1, None
    pending: list[bytes] = []
    points, _ = result.split()
    for index, line, prev_index, prev_minute in leftovers:
        result.lines += 1
        if prev_index > last_index:
            last_index, last_minute = prev_index, prev_minute
        if pending and last_minute is not None:
            result.note_pending(first_counted, pending)  # a scanned line came first
        record = parse_bounded(parse, line)
        if record is None:
            if last_minute is None:
                pending.append(line)
            else:
                result.note_malformed(last_minute, line)
            continue
        last_index, last_minute = index, add_record(points, record)
        result.note_pending(last_minute, pending)
    result.note_pending(first_counted, pending)
