"""Checkpoints: how far each file has been ingested, and how to recognise the file again
(device, inode and a fingerprint of its first bytes), so a re-run reads only what is new
and a rotated (renamed) file is not read twice."""

import hashlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from logctl.localdb import WAL_CHECKPOINT_PAGES, open_local

FINGERPRINT_BYTES = 1024
# The checkpoint book of the ingest daemon (and of the embedded ingest over PostgreSQL), in
# the home directory.
DAEMON_CHECKPOINTS = "checkpoints.db"


@dataclass(frozen=True)
class Checkpoint:
    """A file's identity and the offset up to which its lines are stored."""

    path: str
    source_id: str
    dev: int
    inode: int
    fp_len: int
    fp_hash: str
    offset: int
    updated_at: float = 0.0
    format: str = ""  # the format its lines were read as, once known

    def matches(self, path: Path) -> bool:
        """True when `path` still starts with the bytes this checkpoint fingerprinted."""
        return fingerprint(path, self.fp_len)[1] == self.fp_hash


def fingerprint(path: Path, length: int = FINGERPRINT_BYTES) -> tuple[int, str]:
    """(bytes hashed, sha256) of the first `length` bytes of a file as stored on disk."""
    with open(path, "rb") as handle:
        head = handle.read(length)
    return len(head), hashlib.sha256(head).hexdigest()


def new_checkpoint(path: Path) -> Checkpoint:
    """A checkpoint at offset 0 for a file seen for the first time. Its source id is fixed
    here and saved before any batch is sent, so a crash can never mint a second id."""
    stat = path.stat()
    fp_len, fp_hash = fingerprint(path)
    seed = f"{path.resolve()}|{stat.st_dev}|{stat.st_ino}|{fp_hash}|{time.time_ns()}"
    source_id = hashlib.sha256(seed.encode()).hexdigest()[:16]
    return Checkpoint(str(path.resolve()), source_id, stat.st_dev, stat.st_ino, fp_len, fp_hash,
                      0, time.time())


class CheckpointBook:
    """Checkpoints kept in a SQLite table (embedded: in the metrics database itself, so
    the checkpoints travel with the metrics they describe; daemons: in the ingest
    daemon's own file). Usable from several threads: calls take turns on one lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        # A checkpoint only saves re-reading (resuming also asks the ledger how far storage
        # got), so it needs no fsync per save; with the metrics database in one file, the
        # default FULL sync and 1,000-page WAL checkpoints on this connection made every
        # save flush the store's writes too, and doubled the time ingest spent writing.
        self.conn = open_local(
            path, "checkpoints in", "PRAGMA synchronous = NORMAL",
            f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}",
            "CREATE TABLE IF NOT EXISTS checkpoints (path TEXT, source_id TEXT PRIMARY KEY,"
            " dev INTEGER, inode INTEGER, fp_len INTEGER, fp_hash TEXT, offset INTEGER,"
            " updated_at REAL, format TEXT NOT NULL DEFAULT '')",
            "CREATE INDEX IF NOT EXISTS checkpoints_path ON checkpoints (path)",
            "CREATE INDEX IF NOT EXISTS checkpoints_inode ON checkpoints (dev, inode)")
        columns = {row[1] for row in self.conn.execute("PRAGMA table_info(checkpoints)")}
        if "format" not in columns:  # a book from before formats were kept
            self.conn.execute("ALTER TABLE checkpoints ADD COLUMN format TEXT NOT NULL"
                              " DEFAULT ''")

    def find(self, path: Path) -> Checkpoint | None:
        """The checkpoint of this file: by path, else by device + inode (it was renamed),
        provided its first bytes are unchanged; None for a new or replaced file."""
        stat = path.stat()
        with self.lock:
            rows = self.conn.execute(
                "SELECT * FROM checkpoints WHERE path = ? OR (dev = ? AND inode = ?)"
                " ORDER BY path = ? DESC, updated_at DESC",
                (str(path.resolve()), stat.st_dev, stat.st_ino, str(path.resolve()))).fetchall()
        for row in rows:
            checkpoint = Checkpoint(*row)
            if checkpoint.matches(path):
                return replace(checkpoint, path=str(path.resolve()))
        return None

    def save(self, checkpoint: Checkpoint) -> None:
        """Record a checkpoint (replacing the one with its source id)."""
        with self.lock:
            self.conn.execute(
                "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (checkpoint.path, checkpoint.source_id, checkpoint.dev, checkpoint.inode,
                 checkpoint.fp_len, checkpoint.fp_hash, checkpoint.offset, time.time(),
                 checkpoint.format))

    def of_sources(self, source_ids: Iterable[str]) -> list[Checkpoint]:
        """The checkpoints with these source ids (those this book has)."""
        with self.lock:
            return [Checkpoint(*row) for each in source_ids for row in self.conn.execute(
                "SELECT * FROM checkpoints WHERE source_id = ?", (each,))]

    def rewind(self, source_ids: Iterable[str]) -> int:
        """Move the checkpoints with these source ids back to the start of their files,
        keeping the ids: the next ingest reads them again, skipping what the ledger still
        holds. Returns how many there were."""
        with self.lock:
            return sum(self.conn.execute("UPDATE checkpoints SET offset = 0, updated_at = ?"
                                         " WHERE source_id = ?", (time.time(), each)).rowcount
                       for each in source_ids)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
