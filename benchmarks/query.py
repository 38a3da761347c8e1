"""Query latency before and after a change, over one ingested log: `logctl metrics --by
route` and `--step 1m` over all the data (as compare.py asks them), and `--by route` up to
a time that is not on an hour, measured in process, alternating between the two versions
in each round (medians, ratio). Also the cost of rebuilding the rollups of all the data.

    python benchmarks/query.py --lines 10000000 --rounds 5 --before main
    python benchmarks/query.py --lines 10000000 --per-minute 700 --before main  # sparse

The `--before` version runs from a temporary git worktree of that ref; it ingests the log
once (reused afterwards, under --work); the current version queries a copy of that
database, migrated and with its rollups rebuilt (timed).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import OUT, timed

from logctl.store.sqlite import SQLiteStore
from logctl.synthetic import START, write_log

PY = sys.executable
ROOT = Path(__file__).resolve().parents[1]
# Each version's queries run in a process of their own: (label, Query keyword arguments).
QUERIES = [
    ("--by route", {"group_by": "route"}),
    ("--step 1m", {"step_minutes": 1}),
    ("--by route, end off the hour", {"group_by": "route", "end_offset": 120}),
]
TIMER = r'''
import json, statistics, sys, time
from pathlib import Path
from logctl.services.analytics import AnalyticsService
from logctl.store.base import Query
from logctl.store.sqlite import SQLiteStore
db, start, end_of_data, runs, queries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), json.loads(sys.argv[5])
analytics = AnalyticsService(SQLiteStore(Path(db)))
result = {}
for label, kwargs in queries:
    offset = kwargs.pop("end_offset", None)
    end = start + 10**9 if offset is None else end_of_data + offset
    query = Query(start, end, **kwargs)
    analytics.metrics(query)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        analytics.metrics(query)
        times.append(time.perf_counter() - started)
    result[label] = statistics.median(times)
import logctl
print(json.dumps({"_from": logctl.__file__, **result}))
'''


def before_tree(ref: str, folder: Path) -> Path:
    """A detached worktree of `ref` to import the old version from, its native modules
    built in place (without them it would time the pure-Python fallbacks)."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), ref],
                   check=True, capture_output=True)
    subprocess.run([PY, "setup.py", "-q", "build_ext", "--inplace"], cwd=folder, check=True,
                   capture_output=True)
    return folder


def ingest_once(log: Path, home: Path, source: Path) -> Path:
    """The log ingested by the version at `source` (once; reused when present)."""
    db = home / "logctl.db"
    if not db.exists():
        print(f"ingesting {log} with {source} ...", flush=True)
        timed([PY, "-m", "logctl", "ingest", str(log), "--home", str(home), "--json"],
              env={**os.environ, "PYTHONPATH": str(source)}, cwd=str(source))
    return db


def rolled_copy(base: Path, target: Path) -> float:
    """Copy the old database, open it with this version (its migration marks every hour
    dirty) and rebuild all rollups; returns the rebuild's seconds."""
    shutil.copyfile(base, target)
    store = SQLiteStore(target)
    started = time.perf_counter()
    hours = store.refresh_rollups()
    seconds = time.perf_counter() - started
    store.close()
    print(f"rebuilt {hours} hours in {seconds:.2f} s", flush=True)
    return seconds


def time_queries(source: Path, db: Path, end_of_data: int, runs: int) -> dict[str, float]:
    """One round of one version: each query's median over `runs`, in a fresh process."""
    # Run from the version's folder: `python -c` puts the working folder first on the path,
    # which would import this checkout's logctl whatever PYTHONPATH says.
    run = timed([PY, "-c", TIMER, str(db), str(START), str(end_of_data), str(runs),
                 json.dumps(QUERIES)], env={**os.environ, "PYTHONPATH": str(source)},
                cwd=str(source))
    result = json.loads(run.stdout)
    if not result.pop("_from").startswith(str(source)):
        raise SystemExit(f"the queries of {source} imported another logctl")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5, help="queries per round, median kept")
    parser.add_argument("--before", default="main", help="git ref of the old version")
    parser.add_argument("--per-minute", type=int, default=10_000,
                        help="lines a minute of the generated log (700: the sparse shape)")
    parser.add_argument("--log", type=Path, help="a log generated before (default: generate)")
    parser.add_argument("--work", type=Path, default=OUT, help="where databases are kept")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    shape = "" if args.per_minute == 10_000 else f"-{args.per_minute}pm"
    log = args.log or args.work / f"combined-{args.lines}{shape}.log"
    if not log.exists():
        write_log(str(log), args.lines, per_minute=args.per_minute)
    end_of_data = START + args.lines * 60 // args.per_minute
    with tempfile.TemporaryDirectory() as scratch:
        old = before_tree(args.before, Path(scratch) / "before")
        try:
            base = ingest_once(log, args.work / f"query-{args.lines}{shape}-before", old)
            rebuild = rolled_copy(base, Path(scratch) / "after.db")
            samples: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
            for number in range(args.rounds):
                for name, source, db in (("before", old, base),
                                         ("after", ROOT, Path(scratch) / "after.db")):
                    for label, seconds in time_queries(source, db, end_of_data,
                                                       args.runs).items():
                        samples[name].setdefault(label, []).append(seconds)
                print(f"round {number + 1}: " + json.dumps(
                    {name: {k: round(v[-1] * 1000, 1) for k, v in by.items()}
                     for name, by in samples.items()}), flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(old)], check=False)
    print(f"\n{args.lines:,} lines ({args.per_minute:,} a minute), {args.rounds} alternating "
          f"rounds, median ms (each round: median of {args.runs} runs); rollup rebuild "
          f"{rebuild:.2f} s\n")
    print(f"| query | {args.before} ms | this branch ms | speed-up |\n|---|---:|---:|---:|")
    for label, _ in QUERIES:
        old_ms = statistics.median(samples["before"][label]) * 1000
        new_ms = statistics.median(samples["after"][label]) * 1000
        print(f"| `logctl metrics {label}` | {old_ms:.0f} | {new_ms:.0f} | "
              f"{old_ms / new_ms:.1f}x |")


if __name__ == "__main__":
    main()
