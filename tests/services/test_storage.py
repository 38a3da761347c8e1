"""The storage service's rollup upkeep: settled hours are rebuilt, the hour being written
waits, and the daemon's loop stops when told. The stores' batches mark their hours dirty
(as PostgreSQL's do; SQLite's add to clean hours' rollups instead), so there is upkeep."""

import asyncio
import threading
import time
from pathlib import Path

from logctl.metrics.points import ChunkAggregate, Point
from logctl.services import storage
from logctl.services.storage import StorageService
from logctl.store.base import Batch, Position, Query
from logctl.store.sqlite import SQLiteStore
from tests.store.conftest import marking

T0 = 1748736000


def batch(start: int, hours: int) -> Batch:
    aggregate = ChunkAggregate()
    for minute in range(T0, T0 + hours * 3600, 1800):
        point = aggregate.points[(minute, "", "GET", "/", 200)] = Point()
        point.count, point.first, point.last = 3, minute, minute + 1
    return Batch("s", Position("s", start, start + 1), aggregate)


def dirty(service: StorageService) -> int:
    return service._run(lambda: service._store.conn.execute(  # type: ignore[attr-defined]
        "SELECT count(*) FROM dirty_hours").fetchone()[0])


def test_settled_hours_are_rebuilt_and_recent_ones_wait(tmp_path: Path) -> None:
    service = StorageService(lambda: marking(SQLiteStore(tmp_path / "m.db")))
    service.write_batch(batch(0, 3))
    assert service.refresh_rollups(time.time()) == 0
    assert dirty(service) == 3
    assert service.refresh_rollups(time.time() + storage.SETTLE_S + 1) == 3
    assert dirty(service) == 0
    assert [row.point.count for row in service.query(Query())] == [18]
    service.close()


def test_the_upkeep_loop_rebuilds_until_stopped(tmp_path: Path,
                                                monkeypatch) -> None:
    monkeypatch.setattr(storage, "SETTLE_S", 0.0)
    service = StorageService(lambda: marking(SQLiteStore(tmp_path / "m.db")))
    service.write_batch(batch(0, 2))

    async def run() -> None:
        stop = asyncio.Event()
        upkeep = asyncio.create_task(service.keep_rollups(stop, interval=0.05))
        for _ in range(100):
            await asyncio.sleep(0.02)
            if dirty(service) == 0:
                break
        stop.set()
        await asyncio.wait_for(upkeep, 5)

    asyncio.run(run())
    assert dirty(service) == 0
    service.close()


def test_queries_run_on_reader_threads_beside_writes(tmp_path: Path) -> None:
    """With readers, queries run on threads with stores of their own, in parallel with
    each other and with the writes on the store's thread, and read what was committed."""
    service = StorageService(lambda: SQLiteStore(tmp_path / "m.db"),
                             lambda: SQLiteStore(tmp_path / "m.db"), readers=3)
    seen: list[list[int]] = [[], [], []]
    threads_used: set[str] = set()

    def reader(mine: list[int]) -> None:
        for _ in range(20):
            mine.append(sum(row.point.count for row in service.query(Query())))
    real = service._read_here

    def spy(method: str, query: Query):  # type: ignore[no-untyped-def]
        threads_used.add(threading.current_thread().name)
        return real(method, query)

    service._read_here = spy  # type: ignore[method-assign]
    workers = [threading.Thread(target=reader, args=(mine,)) for mine in seen]
    for worker in workers:
        worker.start()
    for number in range(10):
        service.write_batch(batch(number, 1))
    for worker in workers:
        worker.join()
    for mine in seen:  # each reader sees whole batches, never fewer than it saw before
        assert mine == sorted(mine) and all(n % 6 == 0 and n <= 60 for n in mine)
    assert sum(row.point.count for row in service.query(Query())) == 60
    assert all(name.startswith("store-read") for name in threads_used)
    assert len(service._reader_stores) >= 1
    service.close()
