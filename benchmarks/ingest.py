"""Ingest throughput: `logctl ingest` end to end (parse + aggregate + store, fresh database)
against a plain-Python `re` loop baseline, measured alternately in one run.

    python benchmarks/ingest.py                 # 1M lines, 3 rounds
    python benchmarks/ingest.py --lines 1000000 --lines 10000000 --rounds 3 --write

Reports medians of lines/s and peak RSS (largest process of the run, from wait4), and with
--write replaces the "Ingest" table in benchmarks/RESULTS.md.
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from logctl.synthetic import write_log

OUT = Path(__file__).parent / "out"
RESULTS = Path(__file__).parent / "RESULTS.md"
BASELINE = r'''
import re, sys
LINE = re.compile(rb'^(\S+) \S+ \S+ \[([^\]:]+:\d+:\d+):\d+ ([^\]]+)\] '
                  rb'"(\S+) (\S+)[^"]*" (\d{3}) (\d+|-)(?: "[^"]*" "[^"]*"(?: ([\d.]+))?)?')
counts = {}
with open(sys.argv[1], "rb") as f:
    for line in f:
        m = LINE.match(line)
        if m is None:
            continue
        key = (m[2], m[4], m[5].split(b"?")[0], m[6])
        c = counts.get(key)
        if c is None:
            c = counts[key] = [0, 0, 0.0]
        c[0] += 1
        c[1] += 0 if m[7] == b"-" else int(m[7])
        if m[8]:
            c[2] += float(m[8])
print(sum(c[0] for c in counts.values()))
'''


def timed(cmd: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MB (largest process), and stdout of a command."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    out = proc.stdout.read().decode() if proc.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return seconds, usage.ru_maxrss // 1024, out


def run_logctl(log: Path) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as home:
        seconds, rss, out = timed([sys.executable, "-m", "logctl", "ingest", str(log),
                                   "--home", home, "--json"])
    assert '"malformed": 0' in out, out
    return seconds, rss


def run_baseline(log: Path) -> tuple[float, int]:
    seconds, rss, _ = timed([sys.executable, "-c", BASELINE, str(log)])
    return seconds, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, action="append")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    rows = []
    for lines in args.lines or [1_000_000]:
        log = OUT / f"combined-{lines}.log"
        if not log.exists():
            print(f"generating {log} ...", flush=True)
            write_log(str(log), lines)
        results: dict[str, list[tuple[float, int]]] = {"logctl ingest": [], "python re loop": []}
        for _ in range(args.rounds):
            results["logctl ingest"].append(run_logctl(log))
            results["python re loop"].append(run_baseline(log))
        base = statistics.median(s for s, _ in results["python re loop"])
        for name, samples in results.items():
            median = statistics.median(s for s, _ in samples)
            rss = max(r for _, r in samples)
            rows.append(f"| {lines:,} | {name} | {lines / median:,.0f} | {median:.2f} | "
                        f"{base / median:.2f}x | {rss} |")
            print(rows[-1], flush=True)
    table = "\n".join([
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {args.rounds} alternating rounds, medians; "
        "file: generated combined log with response times (logctl.synthetic).",
        "",
        "| lines | what | lines/s | seconds | vs re loop | peak RSS MB |",
        "|---|---|---|---|---|---|",
        *rows,
    ])
    print(table)
    if args.write:
        RESULTS.write_text("# Benchmark results\n\n## Ingest (benchmarks/ingest.py)\n\n"
                           + table + "\n")


if __name__ == "__main__":
    main()
