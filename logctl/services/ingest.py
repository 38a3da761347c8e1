"""Ingest: finds the new part of each input, reads it in chunks cut at line boundaries,
sends the chunks to processing, and moves a file's checkpoint only after processing
acknowledges that storage holds the chunk."""

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from logctl.checkpoint import Checkpoint, CheckpointBook, new_checkpoint
from logctl.chunks import CHUNK_SIZE, Chunk, read_ahead, read_chunks, skip_to
from logctl.errors import InputError, ParseError
from logctl.formats import FormatOptions, make_format
from logctl.formats.detect import detect_format
from logctl.formats.w3c import last_fields
from logctl.services.contracts import ChunkRequest, FormatSpec, ProcessingClient, StorageClient
from logctl.sources import SourceFile, is_compressed, open_stream, stdin_stream
from logctl.store.base import Position

Progress = Callable[[int, int], None]  # bytes read, lines stored since the last call


@dataclass
class FileReport:
    """What ingest did with one input."""

    label: str
    format: str
    start: int
    end: int
    lines: int = 0
    requests: int = 0
    malformed: int = 0
    skipped_batches: int = 0


@dataclass
class IngestReport:
    """What one ingest run did, for the summary line and `--format json`."""

    files: list[FileReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)

    @property
    def requests(self) -> int:
        return sum(f.requests for f in self.files)

    @property
    def malformed(self) -> int:
        return sum(f.malformed for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f.end - f.start for f in self.files)

    def as_json(self) -> dict[str, Any]:
        """The report as `logctl ingest --json` and upload reports show it."""
        return {
            "seconds": round(self.seconds, 3), "lines": self.lines,
            "requests": self.requests, "malformed": self.malformed, "bytes": self.bytes,
            "files": [{"path": f.label, "format": f.format, "start": f.start, "end": f.end,
                       "lines": f.lines, "requests": f.requests, "malformed": f.malformed,
                       "skipped_batches": f.skipped_batches} for f in self.files],
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "IngestReport":
        """A report from what `as_json` wrote (an ingest daemon's upload report)."""
        files = [FileReport(f["path"], f["format"], f["start"], f["end"], f["lines"],
                            f["requests"], f["malformed"], f["skipped_batches"])
                 for f in body["files"]]
        return cls(files, list(body.get("warnings", ())), float(body["seconds"]))


@dataclass(frozen=True)
class IngestSettings:
    """How to read: the format name ('auto' detects per file) and parser options."""

    format: str = "auto"
    options: FormatOptions = field(default_factory=FormatOptions)
    chunk_size: int = CHUNK_SIZE
    engine: str = "auto"


class IngestService:
    """Reads inputs and drives them through processing, exactly once per byte range."""

    def __init__(self, processing: ProcessingClient, ledger: StorageClient,
                 checkpoints: CheckpointBook, settings: IngestSettings,
                 stop: threading.Event | None = None) -> None:
        self.processing = processing
        self.ledger = ledger
        self.checkpoints = checkpoints
        self.settings = settings
        self.stop = stop or threading.Event()

    def ingest(self, sources: list[SourceFile], progress: Progress | None = None) -> IngestReport:
        """Ingest every source in turn and report what was read."""
        started = time.monotonic()
        report = IngestReport()
        for source in sources:
            if self.stop.is_set():
                break
            try:
                report.files.append(self._ingest_one(source, progress or (lambda b, n: None)))
            except (ParseError, InputError) as exc:
                if len(sources) == 1:
                    raise type(exc)(f"{source.label}: {exc}") from None
                report.warnings.append(f"skipped {source.label}: {exc}")
        report.seconds = time.monotonic() - started
        return report

    def _ingest_one(self, source: SourceFile, progress: Progress) -> FileReport:
        if source.path is None:
            source_id = f"stdin-{uuid.uuid4().hex[:16]}"
            return self._run(source, stdin_stream(), source_id, 0, None, progress)
        checkpoint = self._checkpoint(source.path)
        stream = open_stream(source.path)
        try:
            skip_to(stream, checkpoint.offset)
            return self._run(source, stream, checkpoint.source_id, checkpoint.offset,
                             checkpoint, progress)
        finally:
            stream.close()

    def _checkpoint(self, path: Path) -> Checkpoint:
        """Where to resume a file: its checkpoint, moved up to what storage already holds
        (a crash between storing and checkpointing loses nothing and repeats nothing)."""
        checkpoint = self.checkpoints.find(path)
        if checkpoint is not None:
            stored = self.ledger.committed_end(checkpoint.source_id, checkpoint.offset) or 0
            checkpoint = replace(checkpoint, offset=max(checkpoint.offset, stored))
            if is_compressed(path) or checkpoint.offset <= path.stat().st_size:
                return checkpoint
        checkpoint = new_checkpoint(path)  # new, replaced or truncated: read from the start
        self.checkpoints.save(checkpoint)
        return checkpoint

    def _run(self, source: SourceFile, stream: BinaryIO, source_id: str, start: int,
             checkpoint: Checkpoint | None, progress: Progress) -> FileReport:
        chunks = read_chunks(stream, start, self.settings.chunk_size)
        first = next(chunks, None)
        if first is None:
            return FileReport(source.label, "-", start, start)
        spec = self._resumed_w3c(checkpoint, start) or self._format(first.data)
        header = header_before(source.path, start) if spec.name == "w3c" and source.path \
            and start else ""
        report = FileReport(source.label, spec.name, start, start)
        if checkpoint is not None:
            checkpoint = replace(checkpoint, format=spec.name)
        # Files are read ahead on a thread; stdin is not: a thread blocked reading a pipe
        # can be neither stopped nor left behind at exit.
        with read_ahead(chunks) if source.path else nullcontext(chunks) as rest:
            requests = _requests(source.name, source_id, spec, header,
                                 self._until_stopped(_prepend(first, rest)))
            self._drive(requests, report, checkpoint, progress)
        return report

    def _resumed_w3c(self, checkpoint: Checkpoint | None, start: int) -> FormatSpec | None:
        """A W3C file resumed mid-way keeps its format: its data lines cannot be told
        apart without the `#Fields:` line, which lies before the new part."""
        if start and checkpoint is not None and checkpoint.format == "w3c" \
                and self.settings.format == "auto":
            return self.format_for(b"", "w3c")
        return None

    def _drive(self, requests: Iterator[ChunkRequest], report: FileReport,
               checkpoint: Checkpoint | None, progress: Progress) -> None:
        """Send the requests through processing; account and checkpoint each ack."""
        start = report.start
        for ack in self.processing.process(requests):
            report.end = ack.end
            report.lines += ack.lines
            if ack.applied:
                report.requests += ack.requests
                report.malformed += ack.malformed
            else:
                report.skipped_batches += 1
            if checkpoint is not None:
                checkpoint = replace(checkpoint, offset=ack.end)
                self.checkpoints.save(checkpoint)
            progress(ack.end - start, ack.lines)
            start = ack.end

    def _until_stopped(self, chunks: Iterator[Chunk]) -> Iterator[Chunk]:
        """Chunks until a stop is asked for (SIGTERM): what is in flight is still
        acknowledged and checkpointed, nothing new is sent."""
        for chunk in chunks:
            if self.stop.is_set():
                return
            yield chunk

    def _format(self, sample: bytes) -> FormatSpec:
        """The format for a file: the configured one, or detected from its first chunk."""
        return self.format_for(sample, self.settings.format)

    def format_for(self, sample: bytes, name: str | None) -> FormatSpec:
        """The spec processing gets for lines in format `name` (None or "auto": detected
        from the sample), with this ingest's parser options and engine."""
        options = self.settings.options
        name = name or "auto"
        if name == "auto":
            name = detect_format(sample, options).name
        else:
            make_format(name, options)  # fail early on a bad name or pattern
        return FormatSpec(name, options.rt_unit, tuple(options.fields.overrides.items()),
                          options.now, self.settings.engine)


def _requests(source: str, source_id: str, spec: FormatSpec, header: str,
              chunks: Iterator[Chunk]) -> Iterator[ChunkRequest]:
    """Each chunk as a request; a W3C chunk carries the `#Fields:` line before it (the
    layout of its lines), from `header` and the chunks sent before it."""
    for chunk in chunks:
        yield ChunkRequest(source, Position(source_id, chunk.start, chunk.end),
                           replace(spec, header=header) if header else spec, chunk.data)
        if spec.name == "w3c":
            found = last_fields(chunk.data)
            header = found.decode("utf-8", "replace") if found else header


def header_before(path: Path, offset: int) -> str:
    """The last W3C `#Fields:` line in a file before `offset` ("" when none)."""
    found: bytes | None = None
    carry, read = b"", 0
    with open_stream(path) as stream:
        while read < offset:
            block = stream.read(min(1 << 20, offset - read))
            if not block:
                break
            read += len(block)
            data = carry + block
            cut = data.rfind(b"\n") + 1
            found = last_fields(data[:cut]) or found
            carry = data[cut:]
    return found.decode("utf-8", "replace") if found else ""


def _prepend(first: Chunk, rest: Iterator[Chunk]) -> Iterator[Chunk]:
    yield first
    yield from rest
