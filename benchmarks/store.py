"""Store throughput and query latency: SQLite vs PostgreSQL on the same aggregates,
measured alternately in one run (medians over rounds).

    python benchmarks/store.py                       # 1M generated lines, 3 rounds
    python benchmarks/store.py --lines 200000 --rounds 5 --dsn postgresql://...
    python benchmarks/store.py --per-minute 700      # the sparse shape: a point a few lines

Aggregates are computed once up front (parsing is not what is measured); each round writes
every batch into a fresh SQLite file and a fresh PostgreSQL schema, then times queries.
Prints a markdown table.
"""

import argparse
import copy
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from logctl.formats.combined import CombinedParser
from logctl.metrics.native import aggregate_clf
from logctl.store.base import Batch, Position, Query
from logctl.store.postgres import PostgresStore
from logctl.store.sqlite import SQLiteStore
from logctl.synthetic import generate

QUERIES = {"summary": Query(), "--by route": Query(group_by="route"),
           "--step 1m": Query(step_minutes=1)}


def make_batches(lines: int, per_batch: int, per_minute: int) -> list[Batch]:
    """A generated log's aggregates, one batch per `per_batch` lines (like 4 MB chunks),
    by the engine ingest uses (histograms packed, as they reach a store)."""
    parser, batches, offset, chunk = CombinedParser(), [], 0, []
    for line in generate(lines, per_minute=per_minute):
        chunk.append(line)
        if len(chunk) == per_batch:
            offset = _add(batches, chunk, offset, parser)
            chunk = []
    if chunk:
        _add(batches, chunk, offset, parser)
    return batches


def _add(batches: list[Batch], chunk: list[str], offset: int, parser: CombinedParser) -> int:
    data = "".join(chunk).encode()
    batches.append(Batch("bench", Position("bench", offset, offset + len(data)),
                         aggregate_clf(data, "auto", parser)))
    return offset + len(data)


def measure(store: object, batches: list[Batch], runs: int) -> dict[str, float]:
    """Seconds to write every batch, then the median latency of each query. Each store
    writes its own copy of the batches, as they leave the engine: reading a batch's points
    makes its waiting groups points, which SQLite would otherwise have written as rows."""
    batches = copy.deepcopy(batches)
    started = time.perf_counter()
    for batch in batches:
        store.write_batch(batch)  # type: ignore[attr-defined]
    result = {"write": time.perf_counter() - started}
    for name, query in QUERIES.items():
        result[name] = statistics.median(_timed(lambda q=query: store.query(q))  # type: ignore
                                         for _ in range(runs))
    return result


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def run_sqlite(batches: list[Batch], runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db")
        try:
            return measure(store, batches, runs)
        finally:
            store.close()


def run_postgres(batches: list[Batch], runs: int, dsn: str) -> dict[str, float]:
    schema = f"logctl_bench_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(dsn, schema_name=schema)
    try:
        return measure(store, batches, runs)
    finally:
        store.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def table(results: dict[str, list[dict[str, float]]], batches: list[Batch]) -> str:
    points = sum(len(copy.deepcopy(b.aggregate).points) for b in batches)
    rows = ["| store | batches/s | points/s | summary ms | --by route ms | --step 1m ms |",
            "|---|---:|---:|---:|---:|---:|"]
    for name, rounds in results.items():
        med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        rows.append(f"| {name} | {len(batches) / med['write']:,.1f} | "
                    f"{points / med['write']:,.0f} | " + " | ".join(
                        f"{med[q] * 1000:,.1f}" for q in QUERIES) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--per-batch", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=7, help="query repetitions per round")
    parser.add_argument("--per-minute", type=int, default=10_000,
                        help="lines a minute in the generated log (700: the sparse shape)")
    parser.add_argument("--dsn", default=os.environ.get(
        "LOGCTL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    batches = make_batches(args.lines, args.per_batch, args.per_minute)
    points = sum(len(copy.deepcopy(b.aggregate).points) for b in batches)
    print(f"{args.lines:,} lines, {args.per_minute:,} a minute -> {len(batches)} batches, "
          f"{points:,} points; "
          f"{args.rounds} rounds, queries median of {args.runs}\n")
    results: dict[str, list[dict[str, float]]] = {"SQLite": [], "PostgreSQL": []}
    for _ in range(args.rounds):
        results["SQLite"].append(run_sqlite(batches, args.runs))
        results["PostgreSQL"].append(run_postgres(batches, args.runs, args.dsn))
    print(table(results, batches))


if __name__ == "__main__":
    main()
