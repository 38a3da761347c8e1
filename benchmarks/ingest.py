"""Ingest throughput: `logctl ingest` end to end (parse + aggregate + store, fresh database)
against a plain-Python `re` loop baseline, measured alternately in one run.

    python benchmarks/ingest.py                 # 1M lines, 3 rounds
    python benchmarks/ingest.py --lines 1000000 --lines 10000000 --rounds 3 --write
    python benchmarks/ingest.py --per-minute 700     # the sparse shape: a day of a site

Reports medians of lines/s and peak RSS (largest process of the run, sampled from /proc,
so worker processes count too), and with --write replaces the "Ingest" section of
benchmarks/RESULTS.md. For logctl it also reports the ingest alone, from the command's own
report (first byte read to last batch committed): the whole command adds the interpreter's
start-up, imports and closing the database.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from measure import OUT, RE_LOOP, prepare, timed, write_section

from logctl.synthetic import write_log


def run_logctl(log: Path) -> tuple[float, int, float]:
    """Wall seconds of the command, its peak RSS, and the seconds its report gives."""
    with tempfile.TemporaryDirectory() as home:
        run = timed([sys.executable, "-m", "logctl", "ingest", str(log), "--home", home,
                     "--json"])
    report = json.loads(run.stdout)
    assert report["malformed"] == 0, run.stdout
    return run.seconds, run.rss_mb, report["seconds"]


def run_baseline(log: Path) -> tuple[float, int, float]:
    run = timed([sys.executable, "-c", RE_LOOP, str(log)])
    return run.seconds, run.rss_mb, run.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, action="append")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--per-minute", type=int, default=10_000,
                        help="lines a minute in the generated log (700: the sparse shape, "
                             "nearly a stored point a line)")
    args = parser.parse_args()
    prepare()
    rows = []
    for lines in args.lines or [1_000_000]:
        shape = "" if args.per_minute == 10_000 else f"-{args.per_minute}pm"
        log = OUT / f"combined-{lines}{shape}.log"
        if not log.exists():
            print(f"generating {log} ...", flush=True)
            write_log(str(log), lines, per_minute=args.per_minute)
        results: dict[str, list[tuple[float, int, float]]] = {
            "logctl ingest": [], "python re loop": []}
        for _ in range(args.rounds):
            results["logctl ingest"].append(run_logctl(log))
            results["python re loop"].append(run_baseline(log))
        base = statistics.median(s for s, _, _ in results["python re loop"])
        for name, samples in results.items():
            median = statistics.median(s for s, _, _ in samples)
            inner = statistics.median(i for _, _, i in samples)
            rss = max(r for _, r, _ in samples)
            rows.append(f"| {lines:,} | {name} | {lines / median:,.0f} | {median:.2f} | "
                        f"{base / median:.2f}x | {lines / inner:,.0f} | {rss} |")
            print(rows[-1], flush=True)
    table = "\n".join([
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {time.strftime('%Y-%m-%d')}; {args.rounds} alternating "
        "rounds, medians; "
        f"file: generated combined log with response times (logctl.synthetic), "
        f"{args.per_minute:,} lines a minute.",
        "",
        "| lines | what | lines/s (whole command) | seconds | vs re loop "
        "| lines/s (ingest alone) | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ])
    print(table)
    if args.write:
        write_section("Ingest (benchmarks/ingest.py)", table)


if __name__ == "__main__":
    main()
