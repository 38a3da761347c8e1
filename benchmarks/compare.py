"""logctl against GoAccess, lnav, a plain-Python loop and `wc -l` on the same generated logs,
measured alternately in one run (medians, ratios against the Python loop of the same run);
then query latency over the largest ingested file and latency quantiles against exact ones.

    python benchmarks/compare.py                                  # 1M lines, 3 rounds
    python benchmarks/compare.py --lines 1000000 --lines 10000000 --write
    python benchmarks/compare.py --per-minute 10000 --per-minute 700   # dense and sparse

Every contender is one function `(log, work_dir) -> Run` in CONTENDERS (combined logs) or
JSONL_CONTENDERS; each checks that it really counted every line. Add one there (the daemon
path, say) and it joins the rounds, the table and RESULTS.md.
"""

import argparse
import json
import math
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import polars
from measure import OUT, RE_LOOP, Run, TimedOut, prepare, timed, write_section

from logctl.services.analytics import AnalyticsService
from logctl.store.base import Query
from logctl.store.sqlite import SQLiteStore
from logctl.synthetic import START, write_log

LARGE = 5_000_000
DENSE = 10_000  # lines a minute of the generated logs unless --per-minute says otherwise
TIMEOUT = 300.0  # seconds: a tool slower than this is reported as not finishing
PY = sys.executable
GOACCESS_FORMAT = '%h %^[%d:%t %^] "%r" %s %b "%R" "%u" %T'
LNAV_PER_MINUTE = (";SELECT strftime('%Y-%m-%dT%H:%M', log_time) AS minute, count(*) AS n"
                   " FROM access_log GROUP BY minute")
JSON_LOOP = r'''
import json, sys
counts = {}
with open(sys.argv[1], "rb") as f:
    for line in f:
        r = json.loads(line)
        key = (r["time"][:17], r["method"], r["path"].split("?")[0], r["status"])
        c = counts.get(key)
        if c is None:
            c = counts[key] = [0, 0, 0.0]
        c[0] += 1
        c[1] += r["bytes"]
        c[2] += r["duration_ms"]
print(sum(c[0] for c in counts.values()))
'''
Contender = Callable[[Path, Path], Run]


def expect(condition: bool, what: str) -> None:
    """Stop the benchmark when a contender did not count what it was given."""
    if not condition:
        raise SystemExit(f"check failed: {what}")


def lines_in(log: Path) -> int:
    return int(log.name.split("-")[1].split(".")[0])


def logctl_embedded(log: Path, work: Path) -> Run:
    """`logctl ingest` in one process with its workers, into a fresh home."""
    with tempfile.TemporaryDirectory(dir=work) as home:
        run = timed([PY, "-m", "logctl", "ingest", str(log), "--home", home, "--json"])
    report = json.loads(run.stdout)
    expect(report["lines"] == lines_in(log) and report["malformed"] == 0, f"logctl {report}")
    return run


def goaccess(log: Path, work: Path) -> Run:
    """GoAccess writing its JSON report (combined + %T response time)."""
    report = work / "goaccess.json"
    run = timed(["goaccess", str(log), "--log-format", GOACCESS_FORMAT,
                 "--date-format", "%d/%b/%Y", "--time-format", "%H:%M:%S",
                 "--no-global-config", "-o", str(report)], timeout=TIMEOUT)
    general = json.loads(report.read_text())["general"]
    expect(general["valid_requests"] == lines_in(log) and general["failed_requests"] == 0,
           f"goaccess {general}")
    return run


def lnav(log: Path, work: Path) -> Run:
    """lnav, headless, counting requests per minute with its SQL."""
    run = timed(["lnav", "-n", "-c", LNAV_PER_MINUTE, "-c", ":write-csv-to -", str(log)],
                timeout=TIMEOUT)
    counts = [int(row.rsplit(",", 1)[1]) for row in run.stdout.splitlines()[1:] if row]
    expect(sum(counts) == lines_in(log), f"lnav counted {sum(counts)}")
    return run


def python_re_loop(log: Path, work: Path) -> Run:
    """The baseline: a plain-Python `re` loop counting per minute/method/path/status."""
    run = timed([PY, "-c", RE_LOOP, str(log)])
    expect(int(run.stdout) == lines_in(log), f"re loop counted {run.stdout}")
    return run


def python_json_loop(log: Path, work: Path) -> Run:
    """The JSON-lines baseline: json.loads per line, same counting."""
    run = timed([PY, "-c", JSON_LOOP, str(log)])
    expect(int(run.stdout) == lines_in(log), f"json loop counted {run.stdout}")
    return run


def wc(log: Path, work: Path) -> Run:
    """The floor: reading the file and counting newlines."""
    run = timed(["wc", "-l", str(log)])
    expect(int(run.stdout.split()[0]) == lines_in(log), f"wc {run.stdout}")
    return run


CONTENDERS: dict[str, Contender] = {
    "logctl ingest (embedded)": logctl_embedded,
    "GoAccess (JSON report)": goaccess,
    "lnav (SQL per minute)": lnav,
    "python re loop": python_re_loop,
    "wc -l": wc,
}
JSONL_CONTENDERS: dict[str, Contender] = {
    "logctl ingest (embedded)": logctl_embedded,
    "python json loop": python_json_loop,
    "wc -l": wc,
}


def generated(lines: int, fmt: str, per_minute: int = DENSE) -> Path:
    """The log of `lines` lines of a format, `per_minute` lines a minute, generated once."""
    shape = "" if per_minute == DENSE else f"-{per_minute}pm"
    log = OUT / f"{fmt}-{lines}{shape}.log"
    if not log.exists():
        print(f"generating {log} ...", flush=True)
        write_log(str(log), lines, fmt=fmt, per_minute=per_minute)
    return log


def exact_quantiles(log: Path) -> dict[str, float]:
    """Exact nearest-rank p50/p90/p95/p99 of a combined log's response times in ms, read
    from the file (a count per whole millisecond: the generator writes whole ms)."""
    counts: Counter[int] = Counter()
    with log.open("rb") as lines:
        for line in lines:
            counts[round(float(line.rsplit(b" ", 1)[1]) * 1000)] += 1
    total, seen, result = sum(counts.values()), 0, {}
    ranks = {f"p{round(q * 100)}": max(1, math.ceil(q * total)) for q in (0.5, 0.9, 0.95, 0.99)}
    for value in sorted(counts):
        seen += counts[value]
        for name, rank in ranks.items():
            if name not in result and seen >= rank:
                result[name] = float(value)
    return result


def rounds(log: Path, contenders: dict[str, Contender], count: int) -> dict[str, list[Run]]:
    """Every contender once per round, in turn, so noise hits them all alike. One that
    times out is not run again on this file (no samples: reported as not finishing)."""
    runs: dict[str, list[Run]] = {name: [] for name in contenders}
    gave_up: set[str] = set()
    with tempfile.TemporaryDirectory(dir=OUT) as work:
        for number in range(count):
            for name, contender in contenders.items():
                if name in gave_up:
                    continue
                try:
                    run = contender(log, Path(work))
                except TimedOut as exc:
                    print(f"  round {number + 1} {name}: {exc}", flush=True)
                    gave_up.add(name)
                    runs[name].clear()
                    continue
                runs[name].append(run)
                print(f"  round {number + 1} {name}: {run.seconds:.2f} s, {run.rss_mb} MB",
                      flush=True)
    return runs


def table_rows(log: Path, runs: dict[str, list[Run]], baseline: str,
               label: str) -> list[str]:
    """Markdown rows: medians, throughput and ratios against the baseline of the run."""
    lines, size = lines_in(log), log.stat().st_size / 1e6
    base = statistics.median(r.seconds for r in runs[baseline])
    rows = []
    for name, samples in runs.items():
        if not samples:
            rows.append(f"| {label} | {lines:,} | {name} | - | - | "
                        f"> {TIMEOUT:.0f} (killed) | - | - | - |")
            continue
        median = statistics.median(r.seconds for r in samples)
        rows.append(
            f"| {label} | {lines:,} | {name} | {lines / median:,.0f} | "
            f"{size / median:,.0f} | {median:.2f} | {base / median:.2f}x | "
            f"{max(r.rss_mb for r in samples)} | {max(r.tree_mb for r in samples)} |")
    return rows


def query_latency(log: Path, runs: int) -> tuple[list[str], dict]:
    """Ingest once, then time `--by route` and `--step 1m` over all the data: in process
    (the library call) and through the CLI (with interpreter start-up)."""
    home = OUT / f"home-{log.stem}"
    if not (home / "logctl.db").exists():
        subprocess.run([PY, "-m", "logctl", "ingest", str(log), "--home", str(home), "--json"],
                       check=True, capture_output=True)
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START))
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START + lines_in(log) * 60 // 10000
                                                             + 120))
    store = SQLiteStore(home / "logctl.db")
    analytics = AnalyticsService(store)
    rows = []
    for label, query, flags in (
        ("--by route", Query(START, START + 10**9, group_by="route"), ["--by", "route"]),
        ("--step 1m", Query(START, START + 10**9, step_minutes=1), ["--step", "1m"]),
    ):
        inproc = []
        for _ in range(runs):
            started = time.perf_counter()
            analytics.metrics(query)
            inproc.append(time.perf_counter() - started)
        cli = [timed([PY, "-m", "logctl", "metrics", "--home", str(home), "--since", since,
                      "--until", until, "--format", "json", *flags]).seconds
               for _ in range(runs)]
        rows.append(f"| {lines_in(log):,} | `logctl metrics {label}` | "
                    f"{statistics.median(inproc) * 1000:.0f} | "
                    f"{statistics.median(cli) * 1000:.0f} |")
    total = analytics.metrics(Query(START, START + 10**9)).body
    store.close()
    return rows, total


def quantile_check(log: Path, totals: dict) -> list[str]:
    """logctl's p50/p90/p95/p99 against the exact nearest-rank values of the generator."""
    rows = []
    for name, exact in exact_quantiles(log).items():
        got = totals["latency_ms"][name]
        error = abs(got - exact) / exact
        rows.append(f"| {name} | {exact:.3f} | {got:.3f} | {error * 100:.2f}% | "
                    f"{'ok' if error <= 0.01 else 'OVER 1%'} |")
    return rows


def machine() -> str:
    """CPU, cores and versions, for the results header."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    goaccess_v = _first_line(["goaccess", "--version"])
    lnav_v = _first_line(["lnav", "-V"])
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, polars {polars.__version__}, SQLite "
            f"{sqlite3.sqlite_version}, {goaccess_v}, {lnav_v}")


def _first_line(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return f"{cmd[0]} not found"


def report(args: argparse.Namespace) -> str:
    """Run everything and return the results as markdown."""
    sizes = sorted(args.lines or [1_000_000])
    shapes = args.per_minute or [DENSE]
    rows = []
    for per_minute in shapes:
        for lines in sizes:
            count = args.rounds if lines < LARGE else args.large_rounds
            plan = [("combined", CONTENDERS, "python re loop")]
            if lines == sizes[0]:
                plan.append(("jsonl", JSONL_CONTENDERS, "python json loop"))
            for fmt, contenders, baseline in plan:
                log = generated(lines, fmt, per_minute)
                print(f"{log.name}: {count} rounds", flush=True)
                label = fmt if len(shapes) == 1 else f"{fmt}, {per_minute:,}/min"
                rows += table_rows(log, rounds(log, contenders, count), baseline, label)
    largest = generated(sizes[-1], "combined")
    latency, totals = query_latency(largest, args.query_runs)
    quantiles = quantile_check(largest, totals)
    return "\n".join([
        f"{time.strftime('%Y-%m-%d')}. Machine: {machine()}.",
        "",
        f"{args.rounds} alternating rounds ({args.large_rounds} from {LARGE:,} lines), medians; "
        "ratios against the plain-Python loop of the same run. Files from logctl.synthetic "
        f"({' and '.join(f'{n:,}' for n in shapes)} lines per minute; combined with nginx "
        "response times, and JSON lines at the smallest size). Peak RSS: the largest "
        "process and the sum over the process tree, sampled from /proc every 100 ms (0: "
        "ended before the first sample).",
        "",
        "| format | lines | what | lines/s | MB/s | seconds | vs python loop | "
        "peak RSS MB | tree RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Query latency over {lines_in(largest):,} ingested lines, median of "
        f"{args.query_runs} runs (target < 200 ms):",
        "",
        "| lines | query | in process ms | CLI ms (with start-up) |",
        "|---|---|---|---|",
        *latency,
        "",
        "Latency quantiles of all the data against exact nearest-rank values (target: "
        "within 1%):",
        "",
        "| quantile | exact ms | logctl ms | relative error | |",
        "|---|---|---|---|---|",
        *quantiles,
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, action="append")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--query-runs", type=int, default=7)
    parser.add_argument("--per-minute", type=int, action="append",
                        help="lines a minute of the generated logs (repeat for several shapes;"
                             " 700 is a day of a moderate site)")
    parser.add_argument("--large-rounds", type=int, default=1,
                        help=f"rounds from {LARGE:,} lines (GoAccess takes minutes per round)")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    prepare()
    text = report(args)
    print(text)
    if args.write:
        write_section("Against GoAccess and lnav (benchmarks/compare.py)", text)


if __name__ == "__main__":
    main()
