"""Copying stored metrics between stores (`logctl migrate`): series, points with their
histograms, malformed counts and samples, and the batch ledger, applied to the target in one
transaction whose ledger rows make a re-run a no-op. The target's rollups are rebuilt from
the copied points, never copied."""

import time
from dataclasses import dataclass
from pathlib import Path

from logctl.errors import StoreError
from logctl.store import open_store, redact, sqlite_path
from logctl.store.base import Progress, Query, Store


@dataclass(frozen=True)
class TransferReport:
    """What a copy did: counts moved, or `copied` False when the target had it all."""

    source: str
    target: str
    copied: bool
    points: int
    batches: int
    malformed: int
    samples: int
    seconds: float


def count_points(target: str | Path) -> int:
    """How many points a store holds (for a progress bar's total)."""
    store = _open_existing(target)
    try:
        return store.coverage(Query()).points
    finally:
        store.close()


def copy_store(source: str | Path, target: str | Path,
               progress: Progress = lambda _: None) -> TransferReport:
    """Copy everything `source` holds into `target` (created if need be)."""
    if str(source) == str(target):
        raise StoreError(f"cannot copy {redact(source)} onto itself")
    started = time.perf_counter()
    moved = [0]

    def count(points: int) -> None:
        moved[0] += points
        progress(points)

    origin = _open_existing(source)
    try:
        dump = origin.export()
        destination = open_store(target)
        try:
            copied = destination.import_dump(dump, count)
            destination.refresh_rollups()
        finally:
            destination.close()
    finally:
        origin.close()
    return TransferReport(redact(source), redact(target), copied, moved[0] if copied else 0,
                          len(dump.ledger), len(dump.malformed), len(dump.samples),
                          time.perf_counter() - started)


def _open_existing(target: str | Path) -> Store:
    """Open a store to read from, refusing a SQLite file that does not exist (opening
    would create an empty one and copy nothing, silently)."""
    path = sqlite_path(target)
    if path is not None and not path.exists():
        raise StoreError(f"no such store: {path} does not exist")
    return open_store(target)
