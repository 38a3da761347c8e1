"""A Grafana refresh of examples/grafana's dashboard (10 panels) over 7 days of a generated
log, answered by the Prometheus query API's evaluator in process, as Grafana asks it: a
7-day range, a step of 10 minutes (about 1,000 points a panel), `$__interval` 10m (the
panels' rate window: logctl's counts are exact, so windows that tile the range give the
exact count of each step), `$__range` 7 days, every source. Baseline in the same
run: the `logctl metrics` queries that give the same figures (a summary, `--by route`,
`--step 10m`) through the analytics service.

    python benchmarks/dashboard.py --lines 10000000 --rounds 5 [--step 3600] [--daemon]

With --daemon it also times the refresh as Grafana makes it: every panel's request at
once, over HTTP, against a `logctl serve --all` on a copy of the same database (the
analytics daemon's Prometheus API, storage over gRPC and REST).
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from measure import OUT, timed

from logctl.services.analytics import AnalyticsService
from logctl.services.promql import Evaluator
from logctl.store.base import Query
from logctl.store.sqlite import SQLiteStore
from logctl.synthetic import START, write_log

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "examples/grafana/dashboards/logctl-http.json"
WEEK = 7 * 86400


def panel_queries(start: float, end: float, step: int) -> list[tuple[str, bool]]:
    """Every target of the dashboard with Grafana's variables filled in: (expr, instant)."""
    values = {"$__interval": f"{step}s", "$__range": f"{int(end - start)}s", "$source": ".*"}
    found = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for name, value in values.items():
                expr = expr.replace(name, value)
            found.append((expr, bool(target.get("instant"))))
    return found


def refresh(evaluator: Evaluator, queries: list[tuple[str, bool]], start: float,
            end: float, step: int) -> float:
    began = time.perf_counter()
    for expr, instant in queries:
        if instant:
            evaluator.instant(expr, end)
        else:
            evaluator.range(expr, start, end, step)
    return time.perf_counter() - began


def baseline(analytics: AnalyticsService, start: float, end: float, step: int) -> float:
    began = time.perf_counter()
    for query in (Query(start, end), Query(start, end, group_by="route"),
                  Query(start, end, step_minutes=step // 60)):
        analytics.metrics(query)
    return time.perf_counter() - began


def serve_copy(db: Path, home: Path, port: int) -> subprocess.Popen:
    """`logctl serve --all` on a copy of `db`, its services on ports from `port` up."""
    shutil.copy(db, home / "logctl.db")
    names = ("ingest", "storage", "analytics", "monitor")
    (home / "logctl.toml").write_text("\n".join(
        [f'{n}_url = "http://127.0.0.1:{port + i}"' for i, n in enumerate(names)]
        + [f'storage_grpc = "127.0.0.1:{port + 4}"', f'analytics_grpc = "127.0.0.1:{port + 5}"',
           f'processing_urls = ["http://127.0.0.1:{port + 6}"]', "realtime_window = \"1h\""]))
    serve = subprocess.Popen([sys.executable, "-m", "logctl", "serve", "--all", "--home",
                              str(home), "--config", str(home / "logctl.toml")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in serve.stderr:  # type: ignore[union-attr]
        if "all up" in line:
            break
    return serve


def concurrent_refresh(client: httpx.Client, queries: list[tuple[str, bool]], start: float,
                       end: float, step: int) -> float:
    """Every panel's request at once, as Grafana sends them; the time to the last answer."""
    def ask(query: tuple[str, bool]) -> None:
        expr, instant = query
        params = ({"query": expr, "time": end} if instant else
                  {"query": expr, "start": start, "end": end, "step": step})
        answer = client.post("/api/v1/" + ("query" if instant else "query_range"), data=params)
        assert answer.json()["status"] == "success", answer.text

    began = time.perf_counter()
    with ThreadPoolExecutor(len(queries)) as pool:
        list(pool.map(ask, queries))
    return time.perf_counter() - began


def daemon_refresh(db: Path, queries: list[tuple[str, bool]], start: float, end: float,
                   step: int, rounds: int) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        serve = serve_copy(db, home, 18400)
        try:
            token = (home / "admin.token").read_text().strip()
            with httpx.Client(base_url="http://127.0.0.1:18402", timeout=120,
                              headers={"authorization": f"Bearer {token}"}) as client:
                concurrent_refresh(client, queries, start, end, step)  # warm
                return statistics.median(concurrent_refresh(client, queries, start, end, step)
                                         for _ in range(rounds))
        finally:
            serve.terminate()
            serve.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--step", type=int, default=600, help="seconds (Grafana's step)")
    parser.add_argument("--daemon", action="store_true",
                        help="also time a concurrent refresh through the daemons")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    per_minute = max(1, args.lines // (7 * 1440))
    log = OUT / f"week-{args.lines}.log"
    home = OUT / f"week-{args.lines}"
    if not log.exists():
        print(f"writing {args.lines:,} lines over 7 days ({per_minute}/min) ...", flush=True)
        write_log(str(log), args.lines, seed=3, per_minute=per_minute)
    if not (home / "logctl.db").exists():
        print("ingesting ...", flush=True)
        timed([sys.executable, "-m", "logctl", "ingest", str(log), "--home", str(home)])
    store = SQLiteStore(home / "logctl.db")
    store.refresh_rollups()
    step = args.step
    start = (START // step) * step
    end = start + WEEK
    queries = panel_queries(start, end, step)
    evaluator, analytics = Evaluator(store), AnalyticsService(store)
    ours, base = [], []
    for _ in range(args.rounds):
        ours.append(refresh(evaluator, queries, start, end, step))
        base.append(baseline(analytics, start, end, step))
    ours_s, base_s = statistics.median(ours), statistics.median(base)
    print(f"{args.lines:,} lines, {len(queries)} queries of 10 panels over 7 days, "
          f"step {step}s: dashboard refresh {ours_s:.3f} s (median of {args.rounds}); "
          f"the metrics queries for the same figures {base_s:.3f} s; ratio "
          f"{ours_s / base_s:.2f}")
    if args.daemon:
        store.close()
        took = daemon_refresh(home / "logctl.db", queries, start, end, step, args.rounds)
        print(f"through the daemons, every panel's request at once: {took:.3f} s "
              f"(median of {args.rounds})")


if __name__ == "__main__":
    main()
