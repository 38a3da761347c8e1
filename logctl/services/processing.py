"""Processing: chunks of raw lines to aggregated batches, parsed in worker processes (the
GIL makes threads useless for parsing), written to storage in request order."""

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from functools import lru_cache
from multiprocessing import forkserver

from logctl.formats import Format, FormatOptions, make_format
from logctl.formats.fields import FieldMap
from logctl.metrics.points import ChunkAggregate, aggregate_lines
from logctl.services.contracts import ChunkAck, ChunkRequest, FormatSpec, StorageClient
from logctl.store.base import Batch


@lru_cache(maxsize=32)
def format_for(spec: FormatSpec) -> Format:
    """The parser for a spec, built once per worker process."""
    options = FormatOptions(spec.rt_unit, FieldMap(dict(spec.fields)), spec.now)
    return make_format(spec.name, options)


def aggregate_chunk(spec: FormatSpec, data: bytes) -> ChunkAggregate:
    """Parse and aggregate one chunk: the unit of work a worker process does."""
    fmt = format_for(spec)
    if fmt.columnar and spec.engine != "python":
        # Imported where it runs: a process that only ships chunks to workers (or reads
        # another format) never pays for importing polars.
        from logctl.metrics.columnar import aggregate_clf

        return aggregate_clf(data, spec.rt_unit, fmt.parse_line)
    return aggregate_lines(data, fmt.parse_line)


class InlineExecutor(Executor):
    """Runs work in the calling thread: for small inputs, where starting worker processes
    would cost more than the parsing."""

    def submit(self, fn, /, *args, **kwargs) -> Future:  # type: ignore[override]
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def worker_pool(workers: int | None = None) -> Executor:
    """A pool of parsing processes, one per core by default.

    Workers are forked from a fork server that imported the parsing code (polars included)
    once, instead of each being a fresh interpreter importing it all (spawn): that saved
    most of the pool's start-up. The fork server runs none of the caller's threads and has
    not started polars' thread pool, so forking it is safe where plain fork is not.
    """
    count = workers or os.cpu_count() or 1
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["logctl.metrics.columnar"])
    _start_fork_server()
    return ProcessPoolExecutor(count, mp_context=context)


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
    """Parses chunks on an executor and stores their batches in order."""

    def __init__(self, storage: StorageClient, executor: Executor, in_flight: int = 4) -> None:
        self.storage = storage
        self.executor = executor
        self.in_flight = in_flight

    def process(self, requests: Iterable[ChunkRequest]) -> Iterator[ChunkAck]:
        """Keep up to `in_flight` chunks parsing while earlier ones are written."""
        pending: deque[tuple[ChunkRequest, Future]] = deque()
        for request in requests:
            pending.append((request, self.executor.submit(aggregate_chunk, request.format,
                                                          request.data)))
            if len(pending) >= self.in_flight:
                yield self._store(*pending.popleft())
        while pending:
            yield self._store(*pending.popleft())

    def _store(self, request: ChunkRequest, future: Future) -> ChunkAck:
        aggregate: ChunkAggregate = future.result()
        batch = Batch(request.source, request.position, aggregate)
        applied = self.storage.write_batch(batch)
        return ChunkAck(
            batch_id=batch.batch_id,
            applied=applied,
            lines=aggregate.lines,
            requests=aggregate.requests,
            malformed=sum(aggregate.malformed.values()),
            end=request.position.end,
        )
