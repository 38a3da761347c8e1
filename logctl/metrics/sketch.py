"""A mergeable latency histogram with log-spaced bins (the DDSketch mapping).

A value v > 0 ms falls in bin i = ceil(log(v) / log(gamma)); the bin's representative
value 2 * gamma**i / (gamma + 1) is within ALPHA relative error of every value in it, so
any quantile read from merged bins is within ALPHA of the exact one. Merging is adding
counts per bin: merge(a, b) == histogram(a + b), exactly. A histogram is a plain
{bin: count} dict; stored as packed int32 (bin, count) pairs, which the native `_sketch`
module merges without unpacking (pure-Python fallbacks where it was not built); int64 pairs
(WIDE) where merged counts may outgrow int32; rollups pack dense (dense.py). A blob whose
bins are not strictly ascending, or that holds a count below 1, is corrupt: both the native
and the Python paths refuse it with the same StoreError.
"""

import math
import operator
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate, chain
from typing import TypeVar

from logctl.errors import StoreError

try:
    from logctl.metrics import _sketch
except ImportError:  # built without a C compiler: the pure-Python merges below
    _sketch = None

ALPHA = 0.008
GAMMA = (1 + ALPHA) / (1 - ALPHA)
LN_GAMMA = math.log(GAMMA)
MIN_MS = 0.001
ZERO_BIN = -(2**31)
MIN_BIN = math.ceil(math.log(MIN_MS) / LN_GAMMA)
NARROW = "i"  # array typecodes of the packings: int32 pairs (points), int64 pairs
WIDE = "q"

Histogram = dict[int, int]
T = TypeVar("T")


def bin_index(ms: float) -> int:
    """The bin of a latency in ms; 0 (and negatives) go to a zero bin, tiny values to 1 us."""
    if ms <= 0:
        return ZERO_BIN
    if ms <= MIN_MS:
        return MIN_BIN
    return math.ceil(math.log(ms) / LN_GAMMA)


def bin_value(index: int) -> float:
    """The representative latency of a bin (within ALPHA of every value it holds)."""
    if index == ZERO_BIN:
        return 0.0
    try:
        return 2 * GAMMA**index / (GAMMA + 1)
    except OverflowError:  # the bins of the largest floats: quantiles clamp it to the max
        return math.inf


def add(hist: Histogram, ms: float, count: int = 1) -> None:
    """Count one latency (or `count` equal ones) into a histogram."""
    index = bin_index(ms)
    hist[index] = hist.get(index, 0) + count


def merge_into(target: Histogram, other: Histogram) -> Histogram:
    """Add `other`'s bins into `target` and return it."""
    for index, count in other.items():
        target[index] = target.get(index, 0) + count
    return target


def quantile(hist: Histogram, q: float, maximum: float | None = None) -> float | None:
    """The nearest-rank q-quantile (rank ceil(q*n)); None for an empty histogram.

    Clamped to the exact maximum when known, which never moves it further than ALPHA.
    """
    return quantiles(hist, [q], maximum)[0]


def quantiles(hist: Histogram, qs: Sequence[float],
              maximum: float | None = None) -> list[float | None]:
    """`quantile` for several q at once, from one running total over the sorted bins (a
    time series asks for four per bucket, so this stays in C: accumulate and bisect)."""
    bins = sorted(hist)
    running = list(accumulate(map(hist.__getitem__, bins)))
    if not running or running[-1] == 0:
        return [None] * len(qs)
    found: list[float | None] = []
    for q in qs:
        value = bin_value(bins[bisect_left(running, max(1, math.ceil(q * running[-1])))])
        found.append(min(value, maximum) if maximum is not None else value)
    return found


def encode(hist: Histogram, typecode: str = NARROW) -> bytes:
    """Pack as (bin, count) pairs of `typecode` (int32 or WIDE), bins ascending."""
    return array(typecode, chain.from_iterable(sorted(hist.items()))).tobytes()


def decode(blob: bytes | None, typecode: str = NARROW) -> Histogram:
    """Unpack what `encode` wrote; StoreError for a blob it cannot have written."""
    if not blob:
        return {}
    flat = _pairs(blob, typecode)
    bins, counts = flat[::2], flat[1::2]
    if min(counts) < 1 or not all(map(operator.lt, bins, bins[1:])):
        raise corrupt("its bins are not ascending or a count is below 1")
    return dict(zip(bins, counts, strict=True))


def check(blob: bytes | None) -> None:
    """StoreError unless `blob` is what `encode` writes (empty counts as empty): what a
    store checks of histograms that arrive from another process."""
    if not blob:
        return
    if _sketch is None:
        decode(blob)
        return
    native(_sketch.check, blob)


def native(call: Callable[..., T], *args: object) -> T:
    """A call into `_sketch`, whose ValueError for a corrupt blob becomes the StoreError
    the pure-Python paths raise."""
    try:
        return call(*args)
    except ValueError as error:
        raise StoreError(str(error)) from None


def _pairs(blob: bytes, typecode: str) -> array:
    """The flat (bin, count, ...) values of a packed blob; StoreError if not whole pairs."""
    flat = array(typecode)
    if len(blob) % (2 * flat.itemsize):
        raise corrupt("it is not a whole number of pairs")
    flat.frombytes(blob)
    return flat


def corrupt(why: str) -> StoreError:
    """The error for a stored or received histogram that no encoder wrote."""
    return StoreError(f"corrupted latency histogram: {why}")


def merge_concatenated(packed: bytes) -> Histogram:
    """Merge histograms packed back to back (each as `encode` writes it, concatenated) into
    one, in one loop: the pure-Python merge of many, with counts of any size."""
    flat = _pairs(packed, NARROW)
    if flat and min(flat[1::2]) < 1:
        raise corrupt("a count is below 1")
    hist: Histogram = {}
    get = hist.get
    for index, count in zip(flat[::2], flat[1::2], strict=True):
        hist[index] = get(index, 0) + count
    return hist


def write_varint(out: bytearray, value: int) -> None:
    """Append an unsigned LEB128 varint (the compact and dense packings' numbers)."""
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)


def varints(blob: bytes) -> Iterator[int]:
    """The varints of a blob in order; StoreError for one cut short or past 64 bits."""
    value = shift = 0
    for byte in blob:
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
            if shift > 63:
                raise corrupt("it ends inside a number")
            continue
        if value >= 2**64:
            raise corrupt("it ends inside a number")
        yield value
        value = shift = 0
    if shift:
        raise corrupt("it ends inside a number")


def zigzag(index: int) -> int:
    """A signed bin as the unsigned number a varint holds (0, -1, 1, -2 ... to 0, 1, 2, 3)."""
    return (index << 1) ^ (index >> 63)


def unzigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def compact(blob: bytes | None) -> bytes | None:
    """A packed histogram as SQLite stores a point's: its (bin, count) pairs as varints
    (LEB128, the bin zigzagged), two or three bytes a pair where int32 pairs take eight; a
    sparse day's points are most of its database. None when empty."""
    if _sketch is not None:
        return native(_sketch.compact, blob)
    if not blob:
        return None
    out = bytearray()
    for index, count in sorted(decode(blob).items()):
        write_varint(out, zigzag(index))
        write_varint(out, count)
    return bytes(out)


def compactor() -> Callable[[bytes | None], bytes | None]:
    """`compact` as the cheapest callable there is (the native function itself where
    built), for a loop in C over blobs the scanner packed (whole by construction)."""
    return _sketch.compact if _sketch is not None else compact


def expand(blob: bytes | None, ascending: bool = True) -> bytes | None:
    """The packed (int32 pairs) histogram of what `compact` wrote, None when empty; without
    `ascending`, of several compact blobs written back to back (bins may repeat)."""
    if _sketch is not None:
        return native(_sketch.expand, blob, ascending)
    if not blob:
        return None
    numbers = list(varints(blob))
    if len(numbers) % 2:
        raise corrupt("it ends inside a number")
    bins = [unzigzag(zig) for zig in numbers[::2]]
    counts = numbers[1::2]
    if not all(-2**31 <= index < 2**31 for index in bins) or not all(
            1 <= count < 2**31 for count in counts):
        raise corrupt("a bin or a count is out of range")
    if ascending and not all(map(operator.lt, bins, bins[1:])):
        raise corrupt("its bins are not ascending")
    return array(NARROW, chain.from_iterable(zip(bins, counts, strict=True))).tobytes()


def merge_compact(a: bytes | None, b: bytes | None) -> bytes | None:
    """Two compact histograms merged, compact (None when both are empty): SQLite's merge
    of a point into the stored one."""
    return compact(merge_packed(expand(a), expand(b)))


def merge_packed(a: bytes | None, b: bytes | None) -> bytes | None:
    """Two packed histograms merged, packed (None when both are empty)."""
    if _sketch is not None:
        return native(_sketch.merge, a, b)
    if not a or not b:
        return a or b
    return encode(merge_into(decode(a), decode(b)))
