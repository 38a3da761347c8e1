"""The embedded ingest's rollup upkeep: while batches are written, the hours a later batch
has moved past are rebuilt on a thread and the hour still being written is left; a store
that fails leaves its hours dirty and the caller unharmed."""

import logging
import time
from pathlib import Path

import pytest

from logctl.errors import StoreError
from logctl.metrics.points import ChunkAggregate, Point
from logctl.services.upkeep import rollups_kept
from logctl.store.base import Batch, Position, Query
from logctl.store.sqlite import SQLiteStore
from tests.store.conftest import marking

T0 = 1748736000
H = 3600


def batch(start: int, hours: range) -> Batch:
    """Three requests every half hour of the given hours (counted from T0)."""
    aggregate = ChunkAggregate()
    for minute in range(T0 + hours.start * H, T0 + hours.stop * H, 1800):
        point = aggregate.points[(minute, "", "GET", "/", 200)] = Point()
        point.count, point.first, point.last = 3, minute, minute + 1
    return Batch("s", Position("s", start, start + 1), aggregate)


def dirty(store: SQLiteStore) -> list[int]:
    return [(hour - T0) // H for (hour,) in store.conn.execute(
        "SELECT hour FROM dirty_hours ORDER BY hour")]


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_hours_a_later_batch_moved_past_are_rebuilt_while_writing(tmp_path: Path) -> None:
    store = marking(SQLiteStore(tmp_path / "m.db"))  # batches mark their hours, as on PostgreSQL
    with rollups_kept(store, interval=0.01):
        store.write_batch(batch(0, range(0, 2)))
        store.write_batch(batch(1, range(1, 3)))
        wait_for(lambda: dirty(store) == [1, 2])
        time.sleep(0.05)  # several more ticks: the hours being written stay dirty
        assert dirty(store) == [1, 2]
        store.write_batch(batch(2, range(3, 4)))
        wait_for(lambda: dirty(store) == [3])
    assert store.conn.execute("SELECT hour, count FROM hour_points ORDER BY hour").fetchall() \
        == [(T0, 6), (T0 + H, 12), (T0 + 2 * H, 6)]
    rows = store.query(Query(step_minutes=60))
    assert [(row.bucket, row.point.count) for row in rows] == [
        (T0, 6), (T0 + H, 12), (T0 + 2 * H, 6), (T0 + 3 * H, 6)]
    store.close()


class FailingStore:
    """A store whose rebuilds fail, counting the attempts."""

    def __init__(self) -> None:
        self.attempts = 0

    def refresh_rollups(self, passed_only: bool = False) -> int:
        self.attempts += 1
        raise StoreError("disk I/O error")


def test_a_failing_rebuild_is_logged_once_and_left_for_the_end(
        caplog: pytest.LogCaptureFixture) -> None:
    store = FailingStore()
    with caplog.at_level(logging.WARNING, "logctl.upkeep"), rollups_kept(store, 0.01):
        wait_for(lambda: store.attempts == 1)
        time.sleep(0.05)
    assert store.attempts == 1
    assert [r.getMessage() for r in caplog.records] == [
        "rebuilding rollups failed (left for the end): disk I/O error"]
