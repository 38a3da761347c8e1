"""Point blocks: the points one source has in one minute, packed in one blob, as both
stores keep them (a row a block, not a row a point).

A sparse log puts nearly every line in a point of its own minute and series; stored a row
a point, each cost a B-tree insert with twelve bound values (most of a sparse ingest's
writer) and ~56 bytes. A block holds its points sorted by series id, each as varints (the
series as the step from the one before), floats as varints where they are whole (first
and last as seconds into the minute) and as 8 raw bytes where not, so every value reads
back to the bit; zero error counts and a latency count equal to the count are left out,
and a histogram's bins are written as steps from the one before (reading gives the
point's compact histogram, sketch.compact, back).

The codec is C (`_blocks.c`) where built; the Python below writes the same bytes.
"""

import math
import struct
from array import array
from collections.abc import Iterable, Sequence

from logctl.errors import StoreError
from logctl.metrics import sketch

try:
    from logctl.metrics import _blocks
except ImportError:  # built without a C compiler
    _blocks = None

FORMAT = 1
RAW_SUM, RAW_MAX, RAW_FIRST, RAW_LAST, HAS_HIST, NO_ERRORS, SAME_COUNT = 1, 2, 4, 8, 16, 32, 64
WHOLE_LIMIT = 2.0**53
BlockRow = tuple[int, int, int, int, float, float, bytes]  # minute, points, count, errors,
#                                                             first, last, blob
_DOUBLE = struct.Struct("<d")


def encode(rows: Sequence[tuple]) -> list[BlockRow]:
    """Point rows (series id, minute, five counters, latency sum and maximum, compact
    histogram or None, first, last) packed a block a minute, sorted by series; rows of one
    series and minute merged (in input order)."""
    if _blocks is not None:
        return _native(_blocks.encode, rows)
    points = _settle([list(row) for row in rows])
    blocks, start = [], 0
    for end in range(1, len(points) + 1):
        if end == len(points) or points[end][1] != points[start][1]:
            blocks.append(_block_row(points[start:end]))
            start = end
    return blocks


def decode(blocks: Iterable[tuple[int, bytes]]) -> list[tuple]:
    """The point rows of (minute, blob) blocks, in order, each block's sorted by series."""
    if _blocks is not None:
        return _native(_blocks.decode, blocks)
    return [tuple(point) for minute, blob in blocks for point in _read(minute, blob)]


def sums(selected: Iterable[tuple[int, bytes]], keys: dict[int, int],
         step: int) -> list[tuple]:
    """The points of (minute, blob) blocks summed per (bucket, key) in C as they are
    decoded (see `_blocks.sums`; only where built: the stores' Python path decodes rows
    and sums those)."""
    return _native(_blocks.sums, selected, keys, step)


def merge(minute: int, a: bytes, b: bytes) -> bytes:
    """Two blocks of one minute as one (SQL's `block_merge`, when a batch writes a minute
    that is stored already): a series in both merged."""
    if _blocks is not None:
        return _native(_blocks.merge, minute, a, b)
    points = _settle([*_read(minute, a), *_read(minute, b)])
    return _block_row(points)[6] if points else bytes([FORMAT, 0])


def size(blob: bytes) -> int:
    """The number of points a block holds."""
    if _blocks is not None:
        return _native(_blocks.size, blob)
    return _Reader(blob).count()


def _native(call, *args):  # type: ignore[no-untyped-def]
    try:
        return call(*args)
    except ValueError as error:
        raise StoreError(str(error)) from None


def _settle(points: list[list]) -> list[list]:
    """Points sorted by (minute, series), those of one key merged in input order."""
    order = sorted(range(len(points)), key=lambda i: (points[i][1], points[i][0], i))
    kept: list[list] = []
    for point in (points[i] for i in order):
        last = kept[-1] if kept else None
        if last is None or last[0] != point[0] or last[1] != point[1]:
            kept.append(point)
            continue
        for i in range(2, 7):
            last[i] += point[i]
        last[7] = float(last[7]) + float(point[7])
        last[8] = max(float(last[8]), float(point[8]))
        last[9] = sketch.merge_compact(last[9], point[9]) if last[9] and point[9] else (
            last[9] or point[9])
        last[10] = min(float(last[10]), float(point[10]))
        last[11] = max(float(last[11]), float(point[11]))
    return kept


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _zigzag(value: int) -> bytes:
    return _varint(value * 2 if value >= 0 else -value * 2 - 1)


def _whole(value: float, base: int) -> bool:
    return (math.isfinite(value) and math.copysign(1.0, value) > 0 and value < WHOLE_LIMIT
            and value >= base and value == math.floor(value))


def _float(value: float, base: int, raw: int) -> bytes:
    return _DOUBLE.pack(value) if raw else _varint(int(value) - base)


def _block_row(points: list[list]) -> BlockRow:
    minute = points[0][1]
    out, before = [bytes([FORMAT]), _varint(len(points))], 0
    for series, _, *counts, lat_sum, lat_max, hist, first, last in points:
        lat_sum, lat_max, first, last = (float(v) for v in (lat_sum, lat_max, first, last))
        quiet, same = not counts[1] and not counts[2], counts[4] == counts[0]
        flags = ((0 if _whole(lat_sum, 0) else RAW_SUM) | (0 if _whole(lat_max, 0) else RAW_MAX)
                 | (0 if _whole(first, minute) else RAW_FIRST)
                 | (0 if _whole(last, minute) else RAW_LAST) | (HAS_HIST if hist else 0)
                 | (NO_ERRORS if quiet else 0) | (SAME_COUNT if same else 0))
        kept = [counts[0], *([] if quiet else counts[1:3]), counts[3],
                *([] if same else counts[4:5])]
        out += [_zigzag(series - before), bytes([flags]), *map(_zigzag, kept),
                _float(lat_sum, 0, flags & RAW_SUM), _float(lat_max, 0, flags & RAW_MAX),
                _float(first, minute, flags & RAW_FIRST), _float(last, minute, flags & RAW_LAST)]
        if hist:
            out.append(_steps(hist))
        before = series
    return (minute, len(points), sum(p[2] for p in points), sum(p[3] for p in points),
            float(min(p[10] for p in points)), float(max(p[11] for p in points)), b"".join(out))


def _steps(hist: bytes) -> bytes:
    """A compact histogram as its number of pairs, the first pair, then (bin step, count)."""
    pairs = array("i", sketch.expand(hist) or b"")
    out = [_varint(len(pairs) // 2)]
    for i in range(0, len(pairs), 2):
        step = _zigzag(pairs[0]) if not i else _varint(pairs[i] - pairs[i - 2])
        out += [step, _varint(pairs[i + 1])]
    return b"".join(out)


class _Reader:
    """Reads one blob's varints and raw doubles, StoreError where it breaks off."""

    def __init__(self, blob: bytes) -> None:
        self.blob, self.at = blob, 0

    def count(self) -> int:
        if not self.blob or self.blob[0] != FORMAT:
            raise StoreError("corrupted point block: not a point block of this version")
        self.at = 1
        n = self.varint()
        if n > len(self.blob) - self.at:
            raise StoreError("corrupted point block: its count of points is out of range")
        return n

    def varint(self) -> int:
        value = shift = 0
        while self.at < len(self.blob) and shift < 70:
            byte = self.blob[self.at]
            self.at += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
        raise StoreError("corrupted point block: it ends inside a number")

    def signed(self) -> int:
        value = self.varint()
        return value >> 1 if not value & 1 else -(value >> 1) - 1

    def histogram(self) -> bytes:
        """What `_steps` wrote, compact again."""
        pairs = self.varint()
        if not 0 < pairs <= (len(self.blob) - self.at) // 2:
            raise StoreError("corrupted point block: a histogram runs past its end")
        out, bin = [], 0
        for i in range(pairs):
            try:
                step, count = self.varint(), self.varint()
            except StoreError:
                raise StoreError("corrupted point block: a histogram runs past its end") from None
            bin = bin + step if i else (step >> 1 if not step & 1 else -(step >> 1) - 1)
            if (i and not step) or not -2**31 <= bin < 2**31 or not 0 < count < 2**31:
                raise StoreError("corrupted point block: a histogram's bin or count is out of"
                                 " range")
            out += [_zigzag(bin), _varint(count)]
        return b"".join(out)

    def number(self, raw: int, base: int) -> float:
        if not raw:
            return float(base + self.varint())
        if self.at + 8 > len(self.blob):
            raise StoreError("corrupted point block: it ends inside a number")
        self.at += 8
        return _DOUBLE.unpack_from(self.blob, self.at - 8)[0]


def _read(minute: int, blob: bytes) -> list[list]:
    reader = _Reader(blob)
    points, series = [], 0
    for _ in range(reader.count()):
        series += reader.signed()
        if reader.at >= len(blob):
            raise StoreError("corrupted point block: it ends inside a point")
        flags = blob[reader.at]
        reader.at += 1
        count = reader.signed()
        errors = [0, 0] if flags & NO_ERRORS else [reader.signed(), reader.signed()]
        size = reader.signed()
        counts = [count, *errors, size, count if flags & SAME_COUNT else reader.signed()]
        lat_sum, lat_max = reader.number(flags & RAW_SUM, 0), reader.number(flags & RAW_MAX, 0)
        first = reader.number(flags & RAW_FIRST, minute)
        last = reader.number(flags & RAW_LAST, minute)
        hist = reader.histogram() if flags & HAS_HIST else None
        points.append([series, minute, *counts, lat_sum, lat_max, hist, first, last])
    if reader.at != len(blob):
        raise StoreError("corrupted point block: bytes are left after its points")
    return points
