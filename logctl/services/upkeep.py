"""Rollup upkeep beside a writer in the same process: the embedded ingest rebuilds the dirty
hours it has finished writing while it parses and writes the next ones, so the rebuild left
for the end of the command is the last hour or two, not every hour of a long file. (On
SQLite a batch keeps the rollups of clean hours itself; what is dirty there is what was
dirty before, or what PostgreSQL's batches mark.)

Rebuilding reads `points` in SQLite (or PostgreSQL) with the GIL released, so on a machine
whose cores are busy parsing it mostly fills the time the writer thread spends waiting."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from logctl.errors import DiskFull, StoreError
from logctl.store.base import Store

INTERVAL_S = 0.1
logger = logging.getLogger("logctl.upkeep")


@contextmanager
def rollups_kept(store: Store, interval: float = INTERVAL_S) -> Iterator[None]:
    """Every `interval` seconds while the body runs, rebuild on a thread the hours a later
    batch has moved past (the hour still being filled is left alone, not rebuilt after
    every batch); on exit, the rebuild in progress finishes and the thread is joined. A
    failed rebuild is logged and the hour left dirty: queries stay exact, and the caller's
    final refresh tries again."""
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(interval):
            try:
                store.refresh_rollups(passed_only=True)
            except DiskFull:
                return  # the writer meets it too, and says so
            except StoreError as exc:
                logger.warning("rebuilding rollups failed (left for the end): %s", exc)
                return

    thread = threading.Thread(target=keep, name="rollups", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
