"""Dense histogram packing, for rollups that are summed by the thousand per query.

A sparse histogram (sketch.encode) must be merged bin by bin, in Python. Packed dense, a
histogram's counts are one vector of int64 fields, one per bin from its lowest bin; read as
one big integer, summing many is big-integer addition, which Python does in C whatever the
number of bins. A field never carries into the next while counts stay below 2**63. Bins
that no positive finite latency maps to (the zero bin) follow as sparse WIDE pairs.

Layout: int64 lowest dense bin, int64 number of dense fields, the fields, the sparse pairs
(all native byte order, like sketch.encode)."""

import struct
import sys
from array import array
from functools import lru_cache
from itertools import compress

from logctl.metrics import sketch

try:
    from logctl.metrics import _sketch
except ImportError:  # built without a C compiler: the pure-Python paths below
    _sketch = None

LOW = sketch.MIN_BIN
HIGH = sketch.bin_index(sys.float_info.max)
HEAD = struct.Struct("=qq")
HEADER = HEAD.size
FIELD = 8


def encode(hist: sketch.Histogram) -> bytes:
    """Pack a histogram dense (see the module's layout)."""
    dense = {index: n for index, n in hist.items() if LOW <= index <= HIGH}
    first = min(dense, default=0)
    fields = array("q", bytes(FIELD * (max(dense, default=first - 1) - first + 1)))
    for index, n in dense.items():
        fields[index - first] = n
    outliers = {index: n for index, n in hist.items() if index not in dense}
    return (array("q", [first, len(fields)]).tobytes() + fields.tobytes()
            + sketch.encode(outliers, sketch.WIDE))


def native_sum() -> type | None:
    """The native running sum (`_sketch.DenseSum(low, high)`, with `step(blob)` and
    `finalize()` as a SQL aggregate has them), None where it was not built."""
    return None if _sketch is None else _sketch.DenseSum


def pack_concat(packed: bytes | None) -> bytes:
    """Sparse-packed histograms written back to back (as SQL's group_concat joins a group's
    blobs), summed and packed dense: one native pass where built, one loop otherwise."""
    if _sketch is not None:
        return sketch.native(_sketch.pack_concat, packed, LOW, HIGH)
    return encode(sketch.merge_concatenated(packed or b""))


def decode(blob: bytes | None) -> sketch.Histogram:
    """Unpack what `encode` (or `DenseSum.packed`) wrote."""
    total = DenseSum()
    if blob:
        total.add(blob)
    return total.histogram()


@lru_cache(maxsize=1024)
def sign_bits(fields: int) -> int:
    """The sign bit of each of `fields` int64 fields read as one integer (bit 63 of every
    64-bit field, whatever the byte order): a negative field sets its own, so one AND
    checks a whole histogram. Computed by arithmetic: a query meets many lengths."""
    return ((1 << (64 * fields)) - 1) // ((1 << 64) - 1) << 63


class DenseSum:
    """A running sum of dense-packed histograms. Dense parts are summed as big integers
    per lowest bin (most rows of a query start at one of a few bins), and shifted into
    place once at the end, so each addition is only as long as the histogram added.
    Sparse outliers are summed as a dict."""

    def __init__(self) -> None:
        self.by_first: dict[int, int] = {}
        self.outliers: sketch.Histogram = {}

    def add(self, blob: bytes) -> None:
        """Add one packed histogram; StoreError for one that `encode` cannot have written
        (a negative count would borrow from the next field instead of failing)."""
        if len(blob) < HEADER:
            raise sketch.corrupt("it is shorter than its header")
        first, fields = HEAD.unpack_from(blob)
        end = HEADER + FIELD * fields
        if fields < 0 or end > len(blob) or (fields and not LOW <= first <= HIGH - fields + 1):
            raise sketch.corrupt("its header does not match its length")
        if fields:
            value = int.from_bytes(memoryview(blob)[HEADER:end], sys.byteorder)
            if value & sign_bits(fields):
                raise sketch.corrupt("a count is below 0")
            self.by_first[first] = self.by_first.get(first, 0) + value
        if end < len(blob):
            sketch.merge_into(self.outliers, sketch.decode(blob[end:], sketch.WIDE))

    def _fields(self) -> tuple[int, array]:
        """The lowest bin and the summed fields from it."""
        low = min(self.by_first, default=0)
        total = sum(value << (64 * (first - low)) for first, value in self.by_first.items())
        fields = array("q")
        fields.frombytes(total.to_bytes(-(-total.bit_length() // 64) * FIELD, sys.byteorder))
        return low, fields

    def histogram(self) -> sketch.Histogram:
        """The sum as a {bin: count} dict (bins with no count left out)."""
        low, fields = self._fields()
        hist = dict(zip(compress(range(low, low + len(fields)), fields),
                        compress(fields, fields), strict=True))
        return sketch.merge_into(hist, self.outliers)

    def packed(self) -> bytes:
        """The sum packed dense, without going through a dict."""
        low, fields = self._fields()
        return (array("q", [low, len(fields)]).tobytes() + fields.tobytes()
                + sketch.encode(self.outliers, sketch.WIDE))
