"""The fallback between processing and storage: while storage is unreachable, batches
go to a durable spool on local disk and processing still acknowledges; a drain thread
replays them, oldest first, once storage answers again. Batch ids make a replay of a
batch storage already holds a no-op, so a crash between replaying and removing repeats
nothing. The spool is bounded: when full, writes are refused (Overloaded, HTTP 503
with Retry-After) and ingest waits, its checkpoint unmoved."""

import logging
import threading
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError

from logctl.errors import LogctlError, Overloaded, PeerError
from logctl.localdb import open_local
from logctl.pb import storage_pb2 as spb
from logctl.store.base import Batch, Coverage, Query, Row
from logctl.transport import wire
from logctl.transport.grpc.storage import GrpcStorageClient

log = logging.getLogger("logctl.spool")
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
IDLE_S = 0.5


class SpoolFull(Overloaded):
    """The spool holds as much as it may; try again when storage has drained it."""

    http_status = 503


class Spool:
    """A FIFO of batches in a SQLite file; synchronous=FULL makes each append durable
    (fsync'd) before it returns, so an acknowledged batch survives a power cut."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.lock = threading.Lock()
        self.conn = open_local(
            path, "the spool", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL",
            "CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " batch_id TEXT, size INTEGER, body BLOB)",
            "CREATE TABLE IF NOT EXISTS damaged (seq INTEGER PRIMARY KEY, batch_id TEXT,"
            " size INTEGER, body BLOB)")
        self.depth, self.bytes = self.conn.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM spool").fetchone()

    def append(self, batch: Batch) -> None:
        body = wire.batch_to_pb(batch).SerializeToString()
        with self.lock:
            if self.depth and self.bytes + len(body) > self.max_bytes:
                raise SpoolFull(f"spool full ({self.bytes:,} bytes in {self.depth} batches) "
                                "while storage is unreachable", retry_after=2.0)
            self.conn.execute("INSERT INTO spool (batch_id, size, body) VALUES (?, ?, ?)",
                              (batch.batch_id, len(body), body))
            self.depth += 1
            self.bytes += len(body)

    def oldest(self) -> tuple[int, Batch] | None:
        """The oldest spooled batch. One that no longer decodes (a damaged disk) is moved
        to the `damaged` table, kept for inspection, with an error in the log, so it
        cannot stall every batch behind it."""
        while True:
            with self.lock:
                row = self.conn.execute(
                    "SELECT seq, body FROM spool ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            try:
                return row[0], wire.batch_from_pb(spb.Batch.FromString(row[1]))
            except (DecodeError, ValueError, TypeError, LogctlError) as exc:
                log.error("spooled batch %d is damaged, set aside in %s: %s", row[0],
                          self.path, exc)
                self.set_aside(row[0])

    def set_aside(self, seq: int) -> None:
        """Move a batch that can never be stored to the `damaged` table."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("INSERT INTO damaged SELECT seq, batch_id, size, body FROM spool"
                              " WHERE seq = ?", (seq,))
            self.conn.execute("DELETE FROM spool WHERE seq = ?", (seq,))
            self.conn.execute("COMMIT")
            self.depth, self.bytes = self.conn.execute(
                "SELECT count(*), coalesce(sum(size), 0) FROM spool").fetchone()

    @property
    def damaged(self) -> int:
        """Batches set aside: they no longer decoded, or storage refused them for good."""
        with self.lock:
            return self.conn.execute("SELECT count(*) FROM damaged").fetchone()[0]

    def remove(self, seq: int) -> None:
        with self.lock:
            size = self.conn.execute("SELECT size FROM spool WHERE seq = ?", (seq,)).fetchone()
            if size is None:
                return
            self.conn.execute("DELETE FROM spool WHERE seq = ?", (seq,))
            self.depth -= 1
            self.bytes -= size[0]

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class SpoolingStorage:
    """A StorageClient that spools writes storage cannot take now and replays them."""

    def __init__(self, inner: GrpcStorageClient, spool: Spool) -> None:
        self.inner = inner
        self.spool = spool
        self.replayed = 0
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._drain, name="spool-drain", daemon=True)
        self.thread.start()

    def write_batch(self, batch: Batch) -> bool:
        """Write through to storage; spool it while storage is unreachable or while older
        batches still wait in the spool (they go first)."""
        if not self.spool.depth:
            try:
                return self.inner.write_batch(batch)
            except PeerError as exc:
                if not exc.retryable:
                    raise
                log.warning("storage unreachable, spooling: %s", exc)
        self.spool.append(batch)
        self.wake.set()
        return True

    def committed_end(self, source_id: str, start: int = 0) -> int | None:
        return self.inner.committed_end(source_id, start)

    def query(self, query: Query) -> list[Row]:
        return self.inner.query(query)

    def coverage(self, query: Query) -> Coverage:
        return self.inner.coverage(query)

    def _drain(self) -> None:
        while not self.stopping.is_set():
            item = self.spool.oldest()
            if item is None:
                self.wake.wait(IDLE_S)
                self.wake.clear()
                continue
            seq, batch = item
            try:
                self.inner.write_batch(batch)
            except PeerError as exc:
                if exc.retryable:
                    self.stopping.wait(exc.retry_after or IDLE_S)
                    continue
                log.error("storage refused spooled batch %s for good, set aside: %s",
                          batch.batch_id, exc)
                self.spool.set_aside(seq)
                continue
            self.spool.remove(seq)
            self.replayed += 1

    def health(self) -> dict[str, Any]:
        return {"spool": self.spool.depth, "spool_bytes": self.spool.bytes,
                "spool_replayed": self.replayed,
                "breakers": {"storage": self.inner.guard.breaker.state},
                "breaker_opens": {"storage": self.inner.guard.breaker.opens}}

    def close(self) -> None:
        """Stop draining; what is still spooled stays on disk for the next start."""
        self.stopping.set()
        self.wake.set()
        self.thread.join()
        self.spool.close()
