"""The sources a store holds, as `logctl sources` lists them: the store's totals for each,
joined with the checkpoints of the files it was read from (the offset read up to, the
file's size now, and the lag between them), and the removal of one source."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logctl.checkpoint import Checkpoint, CheckpointBook
from logctl.metrics.window import iso
from logctl.sources import is_compressed
from logctl.store.base import SourceTotals, Store


@dataclass(frozen=True)
class FileState:
    """A file a source was read from: how far it is read, and how large it is now (None
    when it is gone, or compressed, where offsets count the uncompressed bytes)."""

    path: str
    offset: int
    size: int | None

    @property
    def lag(self) -> int | None:
        """Bytes written to the file and not read yet."""
        return None if self.size is None else max(0, self.size - self.offset)

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> "FileState":
        path = Path(checkpoint.path)
        try:
            size = None if is_compressed(path) else path.stat().st_size
        except OSError:
            size = None
        return cls(checkpoint.path, checkpoint.offset, size)


@dataclass(frozen=True)
class SourceEntry:
    """One source: what the store holds of it, its format and its files."""

    totals: SourceTotals
    format: str
    files: list[FileState]

    @property
    def malformed_share(self) -> float:
        """Malformed lines among the lines read (0 with none read)."""
        read = self.totals.requests + self.totals.malformed
        return self.totals.malformed / read if read else 0.0

    def as_json(self) -> dict[str, Any]:
        """The entry as `logctl sources --json` gives it."""
        t = self.totals
        return {
            "name": t.name, "format": self.format,
            "first": iso(t.first) if t.first is not None else None,
            "last": iso(t.last) if t.last is not None else None,
            "requests": t.requests, "errors": t.errors, "malformed": t.malformed,
            "malformed_share": round(self.malformed_share, 6), "lines": t.lines,
            "batches": t.batches,
            "files": [{"path": f.path, "offset": f.offset, "size": f.size, "lag": f.lag}
                      for f in self.files],
        }


def list_sources(store: Store, books: Sequence[CheckpointBook]) -> list[SourceEntry]:
    """Every source in the store, with the checkpoints any of `books` keeps for it."""
    entries = []
    for totals in store.sources():
        checkpoints = [c for book in books for c in book.of_sources(totals.source_ids)]
        formats = sorted({c.format for c in checkpoints if c.format})
        entries.append(SourceEntry(totals, ",".join(formats) or "-",
                                   [FileState.of(c) for c in checkpoints]))
    return entries


@dataclass(frozen=True)
class Forgotten:
    """What removing a source took away."""

    name: str
    points: int
    checkpoints: int


def forget_source(store: Store, books: Sequence[CheckpointBook], name: str) -> Forgotten:
    """Remove a source's data and rewind its files' checkpoints, so its files are read
    again as new. The checkpoints go back first: a crash before the data goes leaves them
    at the start with the data still stored, and the next ingest skips what the ledger
    holds, so no order of failures counts a line twice or leaves a file unread."""
    ids = next((s.source_ids for s in store.sources() if s.name == name), [])
    rewound = sum(book.rewind(ids) for book in books)
    return Forgotten(name, store.forget_source(name), rewound)
