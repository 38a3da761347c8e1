"""Dense histogram packing, for rollups that are summed by the thousand per query.

A sparse histogram (sketch.encode) lists (bin, count) pairs. A rollup merges many minutes,
so most bins between its lowest and highest hold a count: packed dense, it is one count per
bin from its lowest, and summing many is adding fields in place (in C, `_sketch.DenseSum`,
which SQLite calls as the aggregate `hist_sum_agg`). Bins that no positive finite latency
maps to (the zero bin) follow as sparse pairs.

Layout, all unsigned LEB128 varints: the lowest dense bin minus LOW, the number of dense
fields, one count per field (a run of empty bins as 0 and the number of empty bins after
the first), then (zigzag bin, count) pairs for the bins outside [LOW, HIGH], ascending.
Counts are mostly small, so a bin takes one byte where an int64 field took eight, and a
run of empty bins two: an hour of a sparse series leaves most bins between its fastest and
slowest request empty (its rollup 172 -> ~50 bytes)."""

import sys
from collections.abc import Sequence
from functools import partial

from logctl.errors import StoreError
from logctl.metrics import sketch

try:
    from logctl.metrics import _sketch
except ImportError:  # built without a C compiler: the pure-Python paths below
    _sketch = None

LOW = sketch.MIN_BIN
HIGH = sketch.bin_index(sys.float_info.max)
INT64_MAX = 2**63 - 1
_quantiles = None if _sketch is None else partial(
    _sketch.quantiles_dense, LOW, HIGH, sketch.GAMMA, sketch.ZERO_BIN)
_pack_concat = None if _sketch is None else partial(_sketch.pack_concat, LOW, HIGH)


def encode(hist: sketch.Histogram) -> bytes:
    """Pack a histogram dense (see the module's layout)."""
    dense = {index: n for index, n in hist.items() if LOW <= index <= HIGH and n}
    first = min(dense, default=LOW)
    fields = max(dense, default=first - 1) - first + 1
    out = bytearray()
    for value in (first - LOW, fields, *_with_runs([dense.get(index, 0)
                                                    for index in range(first, first + fields)])):
        sketch.write_varint(out, value)
    for index, n in sorted(hist.items()):
        if not LOW <= index <= HIGH:
            sketch.write_varint(out, sketch.zigzag(index))
            sketch.write_varint(out, n)
    return bytes(out)


def _with_runs(counts: list[int]) -> list[int]:
    """Dense counts with each run of empty bins as 0 and the number of empty bins after the
    first."""
    out: list[int] = []
    at = 0
    while at < len(counts):
        if counts[at]:
            out.append(counts[at])
            at += 1
            continue
        end = at + 1
        while end < len(counts) and not counts[end]:
            end += 1
        out += [0, end - at - 1]
        at = end
    return out


def _without_runs(numbers: list[int], fields: int) -> tuple[list[int], int]:
    """`fields` dense counts from the front of `numbers` (runs of zeros expanded) and how many
    numbers they took."""
    counts: list[int] = []
    at = 0
    while len(counts) < fields:
        if at >= len(numbers) or (not numbers[at] and at + 1 >= len(numbers)):
            raise sketch.corrupt("it ends inside a number")
        if numbers[at]:
            counts.append(numbers[at])
            at += 1
            continue
        if numbers[at + 1] >= fields - len(counts):
            raise sketch.corrupt("its header does not match its length")
        counts += [0] * (numbers[at + 1] + 1)
        at += 2
    return counts, at


def _parse(blob: bytes) -> tuple[int, list[int], list[tuple[int, int]]]:
    """The lowest dense bin, the dense counts and the outlying pairs of a packed blob;
    StoreError (with the native sum's words) for one `encode` cannot have written."""
    numbers = list(sketch.varints(blob))
    if len(numbers) < 2:
        raise sketch.corrupt("it is shorter than its header")
    offset, fields = numbers[0], numbers[1]
    if offset > HIGH - LOW or (fields and fields > HIGH - LOW - offset + 1):
        raise sketch.corrupt("its header does not match its length")
    counts, used = _without_runs(numbers[2:], fields)
    rest = numbers[2 + used:]
    if len(rest) % 2:
        raise sketch.corrupt("it ends inside a number")
    if any(n > INT64_MAX for n in numbers[2:]):
        raise sketch.corrupt("a count is out of range")
    pairs = [(sketch.unzigzag(zig), n) for zig, n in zip(rest[::2], rest[1::2], strict=True)]
    if any(n < 1 for _, n in pairs):
        raise sketch.corrupt("a count is below 1")
    bins = [index for index, _ in pairs]
    if any(LOW <= index <= HIGH for index in bins) or bins != sorted(set(bins)):
        raise sketch.corrupt("its outlying bins are not ascending or not outlying")
    return LOW + offset, counts, pairs


def native_sum() -> type | None:
    """The native running sum (`_sketch.DenseSum(low, high)`, with `step(blob)` and
    `finalize()` as a SQL aggregate has them), None where it was not built."""
    return None if _sketch is None else _sketch.DenseSum


def pack_concat(packed: bytes | None) -> bytes:
    """Compact histograms (sketch.compact) written back to back, as SQL's group_concat
    joins a group of stored points' blobs, summed and packed dense: in one native call
    where built, one loop otherwise."""
    if _sketch is not None:
        return sketch.native(_pack_concat, packed)
    return encode(sketch.merge_concatenated(sketch.expand(packed, ascending=False) or b""))


def add(first: bytes | None, second: bytes | None) -> bytes | None:
    """The sum of two dense-packed histograms (None for none), packed dense: SQL's
    `hist_add`, by which a batch adds to a stored rollup row (`_sketch.add_dense` in C)."""
    if first is None or second is None:
        return second if first is None else first
    total = new_sum()
    for blob in (first, second):
        try:
            total.add(blob)
        except ValueError as error:  # the native sum's words for a corrupt blob
            raise StoreError(str(error)) from None
    return total.finalize() if _sketch is not None else total.packed()  # type: ignore


def new_sum() -> "DenseSum":
    """An empty running sum: the native one where it was built (add and histogram in C, as
    a query decodes every row it reads), else the one below."""
    if _sketch is None:
        return DenseSum()
    return _sketch.DenseSum(LOW, HIGH)


def decode(blob: bytes | None) -> sketch.Histogram:
    """Unpack what `encode` (or a sum's `packed`) wrote."""
    total = new_sum()
    if blob:
        try:
            total.add(blob)
        except ValueError as error:  # the native sum's words for a corrupt blob
            raise StoreError(str(error)) from None
    return total.histogram()


def quantiles(blob: bytes | None, qs: Sequence[float],
              maximum: float | None = None) -> list[float | None]:
    """`sketch.quantiles` of a dense-packed histogram, read in place where the native
    module was built (no dict of its bins: a one-minute series over days asks this of
    every bucket)."""
    if _sketch is None or not blob:
        return sketch.quantiles(decode(blob), qs, maximum)
    try:
        return _quantiles(blob, qs, maximum)
    except ValueError as error:  # the native sum's words for a corrupt blob
        raise StoreError(str(error)) from None
    except OverflowError:  # a total past int64: Python's integers take it
        return sketch.quantiles(decode(blob), qs, maximum)


class DenseSum:
    """A running sum of dense-packed histograms, in Python (the fallback of the native
    `_sketch.DenseSum`, which refuses the same blobs)."""

    def __init__(self) -> None:
        self.counts: sketch.Histogram = {}

    def add(self, blob: bytes) -> None:
        """Add one packed histogram; StoreError for one `encode` cannot have written."""
        first, counts, pairs = _parse(blob)
        total = self.counts
        for index, n in zip(range(first, first + len(counts)), counts, strict=True):
            if n:
                total[index] = total.get(index, 0) + n
        for index, n in pairs:
            total[index] = total.get(index, 0) + n
        if any(n > INT64_MAX for n in total.values()):
            raise OverflowError("histogram count overflow")

    def histogram(self) -> sketch.Histogram:
        """The sum as a {bin: count} dict (bins with no count left out)."""
        return dict(self.counts)

    def packed(self) -> bytes:
        """The sum packed dense."""
        return encode(self.counts)
