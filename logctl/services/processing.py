"""Processing: chunks of raw lines to aggregated batches, parsed in parallel (on threads
by the native scanner, which releases the GIL; in worker processes otherwise), written to
storage in request order."""

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from functools import lru_cache
from multiprocessing import forkserver

from logctl import collector
from logctl.formats import Format, FormatOptions, make_format
from logctl.formats.fields import FieldMap
from logctl.formats.w3c import W3cParser
from logctl.metrics import native
from logctl.metrics.points import ChunkAggregate, aggregate_lines
from logctl.services.contracts import ChunkAck, ChunkRequest, FormatSpec, StorageClient
from logctl.store.base import Batch


def format_for(spec: FormatSpec) -> Format:
    """The parser for a spec (its host does not change the parser)."""
    return _parser_for(replace(spec, host="", header=""))


@lru_cache(maxsize=32)
def _parser_for(spec: FormatSpec) -> Format:
    """The parser for a spec, built once per worker process."""
    options = FormatOptions(spec.rt_unit, FieldMap(dict(spec.fields)), spec.now)
    return make_format(spec.name, options)


def aggregate_chunk(spec: FormatSpec, data: bytes) -> ChunkAggregate:
    """Parse and aggregate one chunk: the unit of work a worker process does. Records
    without a host take the spec's, when it names one."""
    aggregate = _aggregate(spec, data)
    if spec.host:
        aggregate.default_host(spec.host)
    return aggregate


def _aggregate(spec: FormatSpec, data: bytes) -> ChunkAggregate:
    if spec.name == "w3c":  # its parser reads its layout from the lines: one per chunk
        if spec.engine == "python":
            return aggregate_lines(data, W3cParser(spec.header))
        from logctl.metrics.columnar_w3c import aggregate_w3c

        return aggregate_w3c(data, spec.header, W3cParser(spec.header))
    fmt = format_for(spec)
    if scans_natively(spec):
        return native.aggregate_clf(data, spec.rt_unit, fmt.parse_line)
    if fmt.columnar is None or spec.engine == "python":
        return aggregate_lines(data, fmt.parse_line)
    # Imported where they run: a process that never takes these paths never pays for
    # importing polars.
    if fmt.columnar == "json":
        from logctl.metrics.columnar_json import aggregate_json

        return aggregate_json(data, fmt.options.fields, fmt.parse_line)
    if fmt.columnar == "lb":
        from logctl.metrics.columnar_lb import aggregate_lb

        return aggregate_lb(data, fmt.parse_line)
    from logctl.metrics.columnar import aggregate_clf

    return aggregate_clf(data, spec.rt_unit, fmt.parse_line)


def scans_natively(spec: FormatSpec) -> bool:
    """True when the native scanner takes this spec's chunks (it releases the GIL)."""
    return native.AVAILABLE and spec.engine == "auto" and format_for(spec).columnar == "clf"


class ParsePool:
    """Where chunks are parsed, `workers` at a time (one per core by default; 0 parses in
    the caller, for inputs too small to pay for any pool).

    Chunks the native scanner takes go to threads: it releases the GIL, so threads scan in
    parallel with nothing to start and nothing pickled. Other chunks go to worker
    processes, started on first use and forked from a fork server that imported the
    parsing code (polars included) once; the fork server runs none of the caller's threads
    and has not started polars' thread pool, so forking it is safe where plain fork is not.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._threads = ThreadPoolExecutor(self.workers, "parse") if self.workers else None
        self._processes: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def parse(self, spec: FormatSpec, data: bytes) -> Future:
        """Start parsing a chunk; the future holds its ChunkAggregate."""
        if self._threads is None:
            return _done(spec, data)
        if scans_natively(spec):
            return self._threads.submit(aggregate_chunk, spec, data)
        return self._process_pool().submit(aggregate_chunk, spec, data)

    def _process_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._processes is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["logctl.metrics.columnar_json"])
                _start_fork_server()
                self._processes = ProcessPoolExecutor(
                    self.workers, mp_context=context, initializer=exit_with,
                    initargs=(os.getpid(),))
            return self._processes

    def shutdown(self) -> None:
        """Stop the pools, dropping chunks not started."""
        for pool in (self._threads, self._processes):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


PARENT_WATCH_S = 0.5


def exit_with(parent: int) -> None:
    """Worker initializer: the collector set for parsing (collector.relax), and the
    worker ended once the process that made its pool is gone. A pool shut down tells its
    workers to stop, but a daemon killed -9 cannot: its workers (and the fork server,
    which lives while any of them does) would wait for work forever. psutil is imported
    here, in the worker: every command imports this module."""
    import psutil

    collector.relax()

    def watch() -> None:
        while True:
            time.sleep(PARENT_WATCH_S)
            try:
                gone = psutil.Process(parent).status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                gone = True
            if gone:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _done(spec: FormatSpec, data: bytes) -> Future:
    """Parse in the caller, answering with a future like the pools do."""
    future: Future = Future()
    try:
        future.set_result(aggregate_chunk(spec, data))
    except BaseException as exc:
        future.set_exception(exc)
    return future


def _start_fork_server() -> None:
    """Start the fork server with one polars thread per process (polars reads the setting
    when it is imported; several threads per worker oversubscribe the cores)."""
    before = os.environ.get("POLARS_MAX_THREADS")
    os.environ["POLARS_MAX_THREADS"] = "1"
    try:
        forkserver.ensure_running()
    finally:
        if before is None:
            del os.environ["POLARS_MAX_THREADS"]
        else:
            os.environ["POLARS_MAX_THREADS"] = before


class ProcessingService:
    """Parses chunks on a pool and stores their batches in order.

    With `batch_bytes`, consecutive chunks of one source are stored as one batch of up to
    that many bytes: chunks stay small enough to parse in parallel, while storage takes
    fewer, larger transactions. Eight chunks in flight are two embedded batches' worth, so
    the pool parses the next batch while one is written (4 left it idle during writes).
    """

    def __init__(self, storage: StorageClient, pool: ParsePool, in_flight: int = 8,
                 batch_bytes: int = 0) -> None:
        self.storage = storage
        self.pool = pool
        self.in_flight = in_flight
        self.batch_bytes = batch_bytes

    def process(self, requests: Iterable[ChunkRequest]) -> Iterator[ChunkAck]:
        """Keep up to `in_flight` chunks parsing while earlier ones are written; one ack
        per stored batch, in request order."""
        pending: deque[tuple[ChunkRequest, Future]] = deque()
        held: list[tuple[ChunkRequest, ChunkAggregate]] = []
        for request in requests:
            # The parse holds the chunk's bytes until it is done; nothing after it needs
            # them, so the chunks waiting to be collected hold none (up to 32 MB of lines).
            pending.append((replace(request, data=b""),
                            self.pool.parse(request.format, request.data)))
            if len(pending) >= self.in_flight:
                yield from self._collect(*pending.popleft(), held)
        while pending:
            yield from self._collect(*pending.popleft(), held)
        if held:
            yield self._store(held)

    def _collect(self, request: ChunkRequest, future: Future,
                 held: list[tuple[ChunkRequest, ChunkAggregate]]) -> Iterator[ChunkAck]:
        """Hold a parsed chunk for the batch being gathered; store the batch when the
        chunk does not continue it or it is full."""
        aggregate: ChunkAggregate = future.result()
        if held and not _continues(held[-1][0], request):
            yield self._store(held)
        held.append((request, aggregate))
        first, last = held[0][0].position, request.position
        if last.end - first.start >= self.batch_bytes:
            yield self._store(held)

    def _store(self, held: list[tuple[ChunkRequest, ChunkAggregate]]) -> ChunkAck:
        """Store the held chunks as one batch and empty the list."""
        (first, aggregate), *rest = held
        for _, more in rest:
            aggregate.merge(more)
        end = held[-1][0].position.end
        held.clear()
        batch = Batch(first.source, replace(first.position, end=end), aggregate)
        applied = self.storage.write_batch(batch)
        return ChunkAck(
            batch_id=batch.batch_id,
            applied=applied,
            lines=aggregate.lines,
            requests=aggregate.requests,
            malformed=sum(aggregate.malformed.values()),
            end=end,
        )


def _continues(previous: ChunkRequest, request: ChunkRequest) -> bool:
    """True when a chunk starts where the previous one of the same source ended."""
    return (request.source == previous.source
            and request.position.source_id == previous.position.source_id
            and request.position.start == previous.position.end)
