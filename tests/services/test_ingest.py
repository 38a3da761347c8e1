"""Ingest resumes where the stored data really ends: batches land out of order when several
are in flight, so after a crash the ledger may hold a later chunk and not an earlier one.
Resuming past the furthest stored end would lose the earlier chunk; resuming at the end of
the unbroken run re-sends it, and nothing already stored counts twice."""

import shutil
from dataclasses import replace
from pathlib import Path

from logctl.checkpoint import CheckpointBook, new_checkpoint
from logctl.chunks import read_chunks
from logctl.formats import FormatOptions
from logctl.formats.combined import CombinedParser
from logctl.metrics.points import aggregate_lines
from logctl.services.ingest import IngestService, IngestSettings
from logctl.services.processing import ParsePool, ProcessingService
from logctl.sources import SourceFile
from logctl.store.base import Batch, Position, Query
from logctl.store.sqlite import SQLiteStore

DATA = Path(__file__).parent.parent / "data" / "apache_logs.log"
CHUNK = 256 * 1024


def totals(store: SQLiteStore) -> tuple[int, int]:
    rows = store.query(Query())
    return (sum(r.point.count for r in rows), sum(r.point.bytes for r in rows))


def test_a_crash_with_a_later_chunk_stored_and_an_earlier_not_loses_nothing(
        tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    shutil.copy(DATA, log)
    store = SQLiteStore(tmp_path / "logctl.db")
    book = CheckpointBook(tmp_path / "logctl.db")
    checkpoint = new_checkpoint(log)
    with open(log, "rb") as stream:
        chunks = list(read_chunks(stream, 0, CHUNK))
    assert len(chunks) >= 4
    # What the crashed run left: chunk 0 stored and checkpointed, chunk 1 in flight and
    # lost, chunks 2 and 3 stored (another processing instance was faster).
    for chunk in (chunks[0], chunks[2], chunks[3]):
        store.write_batch(Batch("access.log", Position(checkpoint.source_id, chunk.start,
                                                       chunk.end),
                                aggregate_lines(chunk.data, CombinedParser())))
    book.save(replace(checkpoint, offset=chunks[0].end))
    pool = ParsePool(0)
    ingest = IngestService(ProcessingService(store, pool), store, book,
                           IngestSettings("combined", FormatOptions(), CHUNK))
    report = ingest.ingest([SourceFile(log, "access.log")])
    assert (report.files[0].start, report.files[0].skipped_batches) == (chunks[0].end, 2)
    assert totals(store) == (9999, 2_747_282_505)  # the sample's truth, nothing twice
    assert store.committed_end(checkpoint.source_id) == log.stat().st_size
    pool.shutdown()
    book.close()
    store.close()
