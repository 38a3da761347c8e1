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
from itertools import compress

from logctl.metrics import sketch

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


def decode(blob: bytes | None) -> sketch.Histogram:
    """Unpack what `encode` (or `DenseSum.packed`) wrote."""
    total = DenseSum()
    if blob:
        total.add(blob)
    return total.histogram()


class DenseSum:
    """A running sum of dense-packed histograms: the dense fields as one big integer from
    bin `low`, the sparse outliers as a dict."""

    def __init__(self) -> None:
        self.low: int | None = None
        self.total = 0
        self.outliers: sketch.Histogram = {}

    def add(self, blob: bytes) -> None:
        """Add one packed histogram."""
        first, fields = HEAD.unpack_from(blob)
        end = HEADER + FIELD * fields
        if fields:
            value = int.from_bytes(memoryview(blob)[HEADER:end], sys.byteorder)
            if self.low is None:
                self.low = first
            elif first < self.low:
                self.total <<= 64 * (self.low - first)
                self.low = first
            self.total += value << (64 * (first - self.low))
        if end < len(blob):
            sketch.merge_into(self.outliers, sketch.decode(blob[end:], sketch.WIDE))

    def _fields(self) -> array:
        fields = array("q")
        fields.frombytes(self.total.to_bytes(-(-self.total.bit_length() // 64) * FIELD,
                                             sys.byteorder))
        return fields

    def histogram(self) -> sketch.Histogram:
        """The sum as a {bin: count} dict (bins with no count left out)."""
        fields = self._fields()
        low = self.low or 0
        hist = dict(zip(compress(range(low, low + len(fields)), fields),
                        compress(fields, fields), strict=True))
        return sketch.merge_into(hist, self.outliers)

    def packed(self) -> bytes:
        """The sum packed dense, without going through a dict."""
        fields = self._fields()
        return (array("q", [self.low or 0, len(fields)]).tobytes() + fields.tobytes()
                + sketch.encode(self.outliers, sketch.WIDE))
