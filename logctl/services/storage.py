"""Storage as a service: a Store owned by one thread, and watchers told which minutes each
new batch touched.

SQLite allows one writer and its connection belongs to the thread that opened it, so every
store call runs on one dedicated thread, whichever thread or event loop asks. Watchers
(the gRPC Watch stream) register a callback and hear about every applied batch."""

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Lock
from typing import Any

from logctl.store.base import Batch, Coverage, Query, Row, Store

Watcher = Callable[[list[int]], None]
WRITE_SAMPLES = 1000


def rank(values: list[float], q: float) -> float | None:
    """The q-quantile of sorted values by rank, rounded to microseconds."""
    return round(values[min(len(values) - 1, int(q * len(values)))], 3) if values else None


class StorageService:
    """Thread-safe access to one store, with change notifications."""

    def __init__(self, open_store: Callable[[], Store]) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="store")
        self._store = self._thread.submit(open_store).result()
        self._watchers: set[Watcher] = set()
        self._lock = Lock()
        self.writes = 0
        self.replays = 0
        self.write_ms: deque[float] = deque(maxlen=WRITE_SAMPLES)

    def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._thread.submit(fn, *args).result()

    def write_batch(self, batch: Batch) -> bool:
        """Apply a batch exactly once; watchers hear the minutes it touched."""
        started = time.perf_counter()
        applied = self._run(self._store.write_batch, batch)
        self.write_ms.append((time.perf_counter() - started) * 1000)
        if applied:
            self.writes += 1
            self._notify(sorted({key[0] for key in batch.aggregate.points}))
        else:
            self.replays += 1
        return applied

    def committed_end(self, source_id: str) -> int | None:
        return self._run(self._store.committed_end, source_id)

    def query(self, query: Query) -> list[Row]:
        return self._run(self._store.query, query)

    def coverage(self, query: Query) -> Coverage:
        return self._run(self._store.coverage, query)

    def figures(self) -> dict[str, Any]:
        """Rows and batches held, and the latency of recent writes (ms), for health."""
        held = self.coverage(Query())
        times = sorted(self.write_ms)
        return {"rows": held.points, "batches": held.batches,
                "write_latency_ms": {"p50": rank(times, 0.5), "p95": rank(times, 0.95)}}

    @property
    def watchers(self) -> int:
        """Open Watch streams."""
        return len(self._watchers)

    def watch(self, watcher: Watcher) -> Callable[[], None]:
        """Call `watcher(minutes)` after each applied batch; returns the unsubscribe."""
        with self._lock:
            self._watchers.add(watcher)

        def stop() -> None:
            with self._lock:
                self._watchers.discard(watcher)
        return stop

    def _notify(self, minutes: list[int]) -> None:
        if not minutes:
            return
        with self._lock:
            watchers = list(self._watchers)
        for watcher in watchers:
            watcher(minutes)

    def close(self) -> None:
        """Close the store on its own thread, then stop the thread."""
        self._run(self._store.close)
        self._thread.shutdown(wait=True)
