"""Storage as a service: a Store owned by one thread, watchers told which minutes each
new batch touched, and the upkeep of the store's rollups.

SQLite allows one writer and its connection belongs to the thread that opened it, so every
store call runs on one dedicated thread, whichever thread or event loop asks. Watchers
(the gRPC Watch stream) register a callback and hear about every applied batch."""

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Lock
from typing import Any

from logctl.errors import DiskFull, StoreError
from logctl.metrics.ranks import rank
from logctl.services.retention import Policy, PruneReport, prune
from logctl.store.base import Batch, Coverage, Query, Row, Store

Watcher = Callable[[list[int]], None]
WRITE_SAMPLES = 1000
# A dirty hour is rebuilt once no batch has touched it for SETTLE_S, so the hour being
# written is not rebuilt after every batch; queries read it from points meanwhile.
SETTLE_S = 60.0
ROLLUP_INTERVAL_S = 10.0
logger = logging.getLogger("logctl.storage")


def prune_once(open_pruner: Callable[[], Store], policy: Policy) -> PruneReport:
    """One prune on a store opened for it (and closed after)."""
    store = open_pruner()
    try:
        return prune(store, policy, time.time())
    finally:
        store.close()


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `stop`; whether it was set."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


class StorageService:
    """Thread-safe access to one store, with change notifications. Writes (and rollup
    rebuilds) run on the store's own thread, one at a time; with `open_reader`, queries run
    on `readers` threads of their own, each with its own store, so concurrent queries (a
    dashboard asking ten at once) use every core instead of queueing behind each other
    and behind writes."""

    def __init__(self, open_store: Callable[[], Store],
                 open_reader: Callable[[], Store] | None = None, readers: int = 2) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="store")
        self._store = self._thread.submit(open_store).result()
        self._open_reader = open_reader
        self._readers = (ThreadPoolExecutor(readers, thread_name_prefix="store-read")
                         if open_reader is not None else None)
        self._reader_here = threading.local()
        self._reader_stores: list[Store] = []
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
            self._notify(sorted(batch.aggregate.minutes()))
        else:
            self.replays += 1
        return applied

    def committed_end(self, source_id: str, start: int = 0) -> int | None:
        return self._run(self._store.committed_end, source_id, start)

    def query(self, query: Query) -> list[Row]:
        return self._read("query", query)

    def coverage(self, query: Query) -> Coverage:
        return self._read("coverage", query)

    def _read(self, method: str, query: Query) -> Any:
        if self._readers is None:
            return self._run(getattr(self._store, method), query)
        return self._readers.submit(self._read_here, method, query).result()

    def _read_here(self, method: str, query: Query) -> Any:
        """On a reader thread: its own store, opened on first use."""
        store = getattr(self._reader_here, "store", None)
        if store is None:
            assert self._open_reader is not None
            store = self._reader_here.store = self._open_reader()
            with self._lock:
                self._reader_stores.append(store)
        return getattr(store, method)(query)

    def refresh_rollups(self, now: float) -> int:
        """Rebuild the rollups of the hours settled at `now`; returns the hours rebuilt."""
        rebuilt = 0
        while self._refresh_one(now):
            rebuilt += 1
        return rebuilt

    def _refresh_one(self, now: float) -> bool:
        """One settled hour, in one store call: writes queued meanwhile wait for one hour's
        rebuild at most."""
        return bool(self._run(self._store.refresh_rollups, now - SETTLE_S, 1))

    async def keep_rollups(self, stop: asyncio.Event,
                           interval: float = ROLLUP_INTERVAL_S) -> None:
        """Rebuild settled hours every `interval` seconds until `stop` is set (then at most
        the hour in progress finishes). A failure is logged and tried again at the next
        tick; queries stay exact meanwhile, reading points for dirty hours."""
        while not await stopped_within(stop, interval):
            try:
                while not stop.is_set() and await asyncio.to_thread(self._refresh_one,
                                                                    time.time()):
                    pass
            except (StoreError, DiskFull) as exc:
                logger.warning("rebuilding rollups failed (tried again in %gs): %s",
                               interval, exc)

    async def keep_pruned(self, stop: asyncio.Event, policy: Policy,
                          open_pruner: Callable[[], Store], interval: float) -> None:
        """Apply retention and downsampling every `interval` seconds until `stop` is set,
        on a store connection of its own: each folded hour is one short transaction, so
        batches keep landing between them instead of queueing behind the whole prune. A
        failure is logged and tried again at the next tick."""
        while not await stopped_within(stop, interval):
            try:
                report = await asyncio.to_thread(prune_once, open_pruner, policy)
                logger.info("pruned: %s", report.as_json())
            except (StoreError, DiskFull) as exc:
                logger.warning("pruning failed (tried again in %gs): %s", interval, exc)

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
        """Close the store on its own thread, then stop the thread; then the readers."""
        self._run(self._store.close)
        self._thread.shutdown(wait=True)
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            for store in self._reader_stores:
                store.close()
