"""The embedded wiring: all services in one process over one store (SQLite file or
PostgreSQL), no daemon."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from logctl.checkpoint import DAEMON_CHECKPOINTS, CheckpointBook
from logctl.config import Settings
from logctl.errors import LogctlError
from logctl.services.analytics import AnalyticsService
from logctl.services.ingest import IngestService, IngestSettings
from logctl.services.processing import ParsePool, ProcessingService
from logctl.store import open_store, sqlite_path
from logctl.store.base import Store

# Below this many bytes of input, parsing in the caller beats any pool.
POOL_THRESHOLD = 16 * 1024 * 1024
# Consecutive chunks stored as one batch: a quarter of the commits and of the points split
# across chunk boundaries, for at most this much more input held in memory.
BATCH_BYTES = 16 * 1024 * 1024


@dataclass
class Embedded:
    """The services wired together in this process."""

    store: Store
    ingest: IngestService
    analytics: AnalyticsService
    checkpoints: CheckpointBook


def checkpoint_path(settings: Settings) -> Path:
    """Where the embedded ingest keeps checkpoints. They describe local files, so they stay
    in a local SQLite file: the metrics database itself when that is SQLite, else
    checkpoints.db in the home directory (where the ingest daemon keeps its own too)."""
    return sqlite_path(settings.store_target) or settings.home / DAEMON_CHECKPOINTS


def checkpoint_paths(settings: Settings) -> list[Path]:
    """Every checkpoint book of this home: the embedded ingest's and the daemon's."""
    daemon = settings.home / DAEMON_CHECKPOINTS
    return [checkpoint_path(settings),
            *([daemon] if daemon.exists() and daemon != checkpoint_path(settings) else [])]


def require_store(settings: Settings) -> None:
    """A clear error for a SQLite store that does not exist yet (opening would make one)."""
    path = sqlite_path(settings.store_target)
    if path is not None and not path.exists():
        raise LogctlError(f"no metrics yet: {path} does not exist "
                          "(run `logctl ingest FILE` first)")


@contextmanager
def local_state(settings: Settings) -> Iterator[tuple[Store, list[CheckpointBook]]]:
    """The existing store and every checkpoint book of this home, closed on exit."""
    require_store(settings)
    store = open_store(settings.store_target, route_cap=settings.route_cap)
    books = [CheckpointBook(path) for path in checkpoint_paths(settings)]
    try:
        yield store, books
    finally:
        for book in books:
            book.close()
        store.close()


@contextmanager
def embedded(settings: Settings, now: float, input_bytes: int = 0) -> Iterator[Embedded]:
    """Open the store and wire the services; parse on a pool when the input is large
    enough to pay for one. Everything is closed on exit."""
    store = open_store(settings.store_target, route_cap=settings.route_cap)
    checkpoints = CheckpointBook(checkpoint_path(settings))
    use_pool = input_bytes > POOL_THRESHOLD and settings.workers != 1
    pool = ParsePool(settings.workers or None if use_pool else 0)
    options = settings.format_options(now)
    try:
        # Two batches of chunks in flight: the pool keeps parsing while a batch is written.
        in_flight = 2 * BATCH_BYTES // settings.chunk_size if use_pool else 1
        processing = ProcessingService(store, pool, in_flight=max(2, in_flight),
                                       batch_bytes=BATCH_BYTES if use_pool else 0)
        ingest = IngestService(processing, store, checkpoints,
                               IngestSettings(settings.format, options, settings.chunk_size,
                                              settings.engine))
        yield Embedded(store, ingest, AnalyticsService(store), checkpoints)
    finally:
        pool.shutdown()
        checkpoints.close()
        store.close()
