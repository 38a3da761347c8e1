"""Python's cyclic garbage collector, set for what logctl allocates.

An ingest makes millions of small objects (a scanner's groups, point rows, block and rollup
tuples, unpickled chunk results), none of them in a reference cycle: reference counting
frees them all. The collector still ran a young-generation pass every 700 allocations and
a full pass, over every module and function object too, every 70,000: a tenth of a sparse
ingest's CPU, under the GIL, on the writer's critical path."""

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Allocations between young-generation passes (Python's default: 700). Cycles are still
# found, a little later; the older generations keep their ratios to it.
YOUNG = 100_000

_paused = 0
_was_enabled = False
_pausing = threading.Lock()


def relax() -> None:
    """Freeze what is alive now (the modules a command imported: full passes skip them)
    and run young passes every YOUNG allocations. Once per process, after its imports."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)


@contextmanager
def paused() -> Iterator[None]:
    """The collector held off while the body runs (an answer of tens of thousands of rows,
    points and dicts, none in a cycle): nested and concurrent bodies share one pause, and
    the collector runs again after the last."""
    global _paused, _was_enabled
    with _pausing:
        if not _paused:
            _was_enabled = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _pausing:
            _paused -= 1
            if not _paused and _was_enabled:
                gc.enable()
