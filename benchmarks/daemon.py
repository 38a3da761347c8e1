"""The daemon path against the embedded one, on the same generated log, alternating:

- embedded: `logctl ingest FILE` into a fresh database (one process, worker pool);
- daemons: a fresh `logctl serve --all` (started before the clock runs), then
  `logctl ingest --remote` (upload, ingest, 2 processing instances, storage over gRPC),
  timed until analytics answers with every line: file to queryable metrics;
- daemons, not durable: the same with `durable = false`, so storage acknowledges before
  its commits reach the disk (synchronous=NORMAL): what the default durability costs.

    python benchmarks/daemon.py --lines 1000000 --rounds 3 [--write]
    python benchmarks/daemon.py --per-minute 700    # the sparse shape: a day of a site

Reports medians of lines/s and the daemon/embedded ratio; --write replaces the "Daemon
path" section of benchmarks/RESULTS.md.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from measure import OUT, prepare, write_section

from logctl.synthetic import write_log

LOGCTL = [sys.executable, "-m", "logctl"]


def embedded(log: Path) -> float:
    with tempfile.TemporaryDirectory() as home:
        started = time.perf_counter()
        subprocess.run([*LOGCTL, "ingest", str(log), "--home", home, "--json"], check=True,
                       stdout=subprocess.DEVNULL)
        return time.perf_counter() - started


def daemons(log: Path, requests: int, instances: int, port_base: int,
            durable: bool = True) -> float:
    with tempfile.TemporaryDirectory() as home:
        ports = [port_base + i for i in range(6 + instances)]
        config = Path(home) / "logctl.toml"
        names = ("ingest", "storage", "analytics", "monitor")
        config.write_text("\n".join(
            [f'{n}_url = "http://127.0.0.1:{p}"' for n, p in zip(names, ports, strict=False)]
            + [f'storage_grpc = "127.0.0.1:{ports[4]}"',
               f'analytics_grpc = "127.0.0.1:{ports[5]}"',
               "processing_urls = [" + ", ".join(
                   f'"http://127.0.0.1:{p}"' for p in ports[6:]) + "]",
               f"durable = {'true' if durable else 'false'}"]))
        serve = subprocess.Popen([*LOGCTL, "serve", "--all", "--home", home, "--config",
                                  str(config), "--instances", str(instances), "--workers", "1"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            for line in serve.stderr:  # type: ignore[union-attr]
                if "all up" in line:
                    break
            remote = f"http://127.0.0.1:{ports[0]}"
            analytics = f"http://127.0.0.1:{ports[2]}/v1/metrics/summary"
            token = (Path(home) / "admin.token").read_text().strip()
            auth = {"authorization": f"Bearer {token}"}
            started = time.perf_counter()
            subprocess.run([*LOGCTL, "ingest", str(log), "--remote", remote, "--json",
                            "--token", token], check=True, stdout=subprocess.DEVNULL)
            while httpx.get(analytics, timeout=30, headers=auth).json()["requests"] < requests:
                time.sleep(0.05)
            return time.perf_counter() - started
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--port-base", type=int, default=17400,
                        help="the daemons listen on this port and the next few")
    parser.add_argument("--per-minute", type=int, default=10_000,
                        help="lines a minute in the generated log (700: the sparse shape)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    prepare()
    shape = "" if args.per_minute == 10_000 else f"-{args.per_minute}pm"
    log = OUT / f"combined-{args.lines}{shape}.log"
    truth = (write_log(str(log), args.lines, per_minute=args.per_minute)
             if not log.exists() else None)
    requests = truth.requests if truth else args.lines
    times: dict[str, list[float]] = {"embedded": [], "daemons": [], "not durable": []}
    for round_ in range(args.rounds):
        times["embedded"].append(embedded(log))
        times["daemons"].append(daemons(log, requests, args.instances, args.port_base))
        times["not durable"].append(daemons(log, requests, args.instances, args.port_base,
                                            durable=False))
        print(f"round {round_ + 1}: " + ", ".join(
            f"{name} {values[-1]:.2f}s" for name, values in times.items()), flush=True)
    table = render(args, log, times)
    print(table)
    if args.write:
        write_section("Daemon path", table)


def render(args: argparse.Namespace, log: Path, times: dict[str, list[float]]) -> str:
    median = {k: statistics.median(v) for k, v in times.items()}
    rate = {k: args.lines / v for k, v in median.items()}
    return "\n".join([
        f"`python benchmarks/daemon.py --lines {args.lines} --rounds {args.rounds}"
        f" --instances {args.instances} --per-minute {args.per_minute}`, {os.cpu_count()}"
        f" cores; file {log.stat().st_size / 1e6:.0f} MB, {args.per_minute:,} lines a minute."
        f" Medians of {args.rounds} alternating rounds; "
        "daemons timed from upload start until analytics answers with every line "
        "(start-up excluded).",
        "",
        "| path | median s | lines/s | vs embedded |",
        "|---|---:|---:|---:|",
        f"| embedded `logctl ingest` | {median['embedded']:.2f} | {rate['embedded']:,.0f} | 1.00 |",
        f"| daemons (`serve --all`, {args.instances} processing; durable, the default) | "
        f"{median['daemons']:.2f} | {rate['daemons']:,.0f} | "
        f"{rate['daemons'] / rate['embedded']:.2f} |",
        f"| daemons, `durable = false` | {median['not durable']:.2f} | "
        f"{rate['not durable']:,.0f} | {rate['not durable'] / rate['embedded']:.2f} |",
        "",
        f"Durable acknowledgements cost {1 - rate['daemons'] / rate['not durable']:.1%} of "
        "the daemon path's throughput here (each storage commit waits for its fsync).",
        "",
    ])


if __name__ == "__main__":
    main()
