"""The spool against a fake storage, in milliseconds: batches replay in the order they
were spooled, the bound refuses a batch that does not fit (and never the first), what is
spooled survives closing and reopening, and a damaged entry is set aside instead of
stalling the batches behind it."""

import threading
from pathlib import Path

import pytest

from logctl.errors import PeerError
from logctl.formats.combined import CombinedParser
from logctl.metrics.points import aggregate_lines
from logctl.store.base import Batch, Position
from logctl.transport.resilience import CircuitBreaker
from logctl.transport.spool import Spool, SpoolFull, SpoolingStorage
from tests.cluster import wait_until

LINE = b'1.1.1.1 - - [10/Oct/2000:13:55:36 +0000] "GET /a HTTP/1.1" 200 10\n'


def batch(n: int) -> Batch:
    data = LINE * (n + 1)
    return Batch("web", Position("f", 1000 * n, 1000 * n + len(data)),
                 aggregate_lines(data, CombinedParser()))


class FakeStorage:
    """Takes writes while `up`; records their batch ids in order."""

    def __init__(self) -> None:
        self.up = False
        self.written: list[str] = []
        self.lock = threading.Lock()
        self.guard = type("G", (), {"breaker": CircuitBreaker("storage")})()

    def write_batch(self, b: Batch) -> bool:
        if not self.up:
            raise PeerError("storage: unreachable", retryable=True, retry_after=0.01)
        with self.lock:
            self.written.append(b.batch_id)
        return True

    def committed_end(self, source_id: str, start: int = 0) -> int | None:
        return None


def test_spooled_batches_replay_oldest_first(tmp_path: Path) -> None:
    storage = FakeStorage()
    spooling = SpoolingStorage(storage, Spool(tmp_path / "spool.db"))  # type: ignore[arg-type]
    try:
        for n in range(5):
            assert spooling.write_batch(batch(n)) is True  # acknowledged: spooled
        assert spooling.spool.depth == 5
        storage.up = True
        spooling.write_batch(batch(5))  # older batches wait: this one queues behind them
        wait_until(lambda: spooling.spool.depth == 0, 5, 0.005, "the spool to drain")
        assert storage.written == [batch(n).batch_id for n in range(6)]
        assert spooling.health()["spool_replayed"] == 6
    finally:
        spooling.close()


def test_the_bound_refuses_what_does_not_fit_but_never_the_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_bytes=10)
    spool.append(batch(0))  # larger than the bound, but the spool was empty
    with pytest.raises(SpoolFull) as full:
        spool.append(batch(1))
    assert (full.value.http_status, full.value.retry_after) == (503, 2.0)
    assert spool.depth == 1
    spool.close()


def test_the_spool_survives_closing_and_reopening(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    for n in range(3):
        spool.append(batch(n))
    seq, first = spool.oldest()  # type: ignore[misc]
    spool.remove(seq)
    size = spool.bytes
    spool.close()
    again = Spool(tmp_path / "spool.db")
    assert (again.depth, again.bytes) == (2, size)
    _, oldest = again.oldest()  # type: ignore[misc]
    assert (first.batch_id, oldest.batch_id) == (batch(0).batch_id, batch(1).batch_id)
    assert oldest.aggregate.requests == 2
    again.close()


def test_a_damaged_entry_is_set_aside(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    for n in range(3):
        spool.append(batch(n))
    spool.conn.execute("UPDATE spool SET body = x'ffffffff00' WHERE seq = 1")
    _, oldest = spool.oldest()  # type: ignore[misc]
    assert oldest.batch_id == batch(1).batch_id
    assert (spool.depth, spool.damaged) == (2, 1)
    spool.close()


def test_a_batch_storage_refuses_for_good_is_set_aside(tmp_path: Path) -> None:
    """A spooled batch storage answers with a non-retryable error (a bad request) must
    not stall the drain: it is set aside and the batches behind it go on."""
    storage = FakeStorage()
    refused = batch(1).batch_id

    def write(b: Batch) -> bool:
        if b.batch_id == refused:
            raise PeerError("storage: bad point", retryable=False)
        storage.written.append(b.batch_id)
        return True

    spooling = SpoolingStorage(storage, Spool(tmp_path / "spool.db"))  # type: ignore[arg-type]
    try:
        for n in range(3):
            spooling.write_batch(batch(n))
        storage.write_batch = write  # type: ignore[method-assign]
        wait_until(lambda: spooling.spool.depth == 0, 5, 0.005, "the spool to drain")
        assert storage.written == [batch(0).batch_id, batch(2).batch_id]
        assert spooling.spool.damaged == 1
    finally:
        spooling.close()


def test_a_spooled_point_with_a_corrupt_histogram_is_set_aside(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    bad = batch(0)
    next(iter(bad.aggregate.points.values())).set_encoded_hist(bytes(8))  # a count of 0
    spool.append(bad)
    spool.append(batch(1))
    _, oldest = spool.oldest()  # type: ignore[misc]
    assert (oldest.batch_id, spool.damaged) == (batch(1).batch_id, 1)
    spool.close()
