"""The analytics daemon as a Prometheus data source, checked with clients nobody here
wrote: Debian's promtool (instant and range queries) against `logctl metrics` on the same
data, the requests Grafana's data source makes, and a real Prometheus server scraping the
exported log metrics (then `promtool check metrics` on what it scraped)."""

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.cluster import Cluster, free_ports, running_cluster, stop, wait_until
from tests.services.test_promql import BUCKET, ELEVEN, ERRORS, NINE, REQUESTS, TEN, known_log
from tests.test_cli import run

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None,
                                reason="needs Debian's prometheus package (.ci/run installs it)")
SOURCE = 'source="web.log"'


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("prom")
    log = home / "web.log"
    known_log(log)
    with running_cluster(home / "home", extra="export_log_metrics = true") as running:
        run(CliRunner(), "ingest", str(log), "--remote", running.urls["ingest"], "--token",
            running.token)
        yield running


def metrics(cluster: Cluster, *args: str) -> dict:
    return json.loads(run(CliRunner(), "metrics", "--format", "json", "--remote",
                          cluster.urls["analytics"], "--token", cluster.token,
                          "--source", "web.log", *args))


def promtool(*args: str, check: bool = True) -> object:
    """`promtool query ...` answered as JSON (None when it failed and `check` is off)."""
    done = subprocess.run(["promtool", "query", *args, "-o", "json"], capture_output=True,
                          text=True, timeout=60)
    if not check and done.returncode != 0:
        return None
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def with_basic(url: str, token: str) -> str:
    """The server URL with the token as the Basic password (Debian's promtool 2.42 has no
    --http.config.file; Go's client sends URL credentials as Basic auth)."""
    return url.replace("http://", f"http://grafana:{token}@")


def test_promtool_instant_queries_equal_logctl_metrics(cluster: Cluster) -> None:
    hour = metrics(cluster, "--since", "2026-11-25T09:00:00Z", "--until", "2026-11-25T10:00:00Z")
    server = with_basic(cluster.urls["analytics"], cluster.token)

    def instant(expr: str) -> float:
        (sample,) = promtool("instant", "--time", str(TEN), server, expr)
        assert sample["value"][0] == TEN
        return float(sample["value"][1])

    assert instant(f"sum(increase({REQUESTS}{{{SOURCE}}}[1h]))") == hour["requests"] == 248
    ratio = instant(f"sum(increase({ERRORS}{{{SOURCE}}}[1h])) / "
                    f"sum(increase({REQUESTS}{{{SOURCE}}}[1h]))")
    assert round(ratio, 6) == hour["error_rate"] == round(6 / 248, 6)
    p95 = instant(f"histogram_quantile(0.95, sum by (le) (rate({BUCKET}{{{SOURCE}}}[1h])))")
    assert round(p95 * 1000, 3) == hour["latency_ms"]["p95"]


def test_promtool_range_queries_equal_logctl_metrics_by_hour(cluster: Cluster) -> None:
    hourly = metrics(cluster, "--since", "2026-11-25T09:00:00Z", "--until",
                     "2026-11-25T11:00:00Z", "--step", "1h")["series"]
    (series,) = promtool("range", "--start", str(NINE), "--end", str(ELEVEN), "--step", "1h",
                         f"--header=Authorization=Bearer {cluster.token}",
                         cluster.urls["analytics"],
                         f"sum(increase({REQUESTS}{{{SOURCE}}}[1h]))")
    assert series["metric"] == {}
    assert series["values"] == [[TEN, "248"], [ELEVEN, "246"]]
    assert [int(v) for _, v in series["values"]] == [e["requests"] for e in hourly] == [248, 246]


def api(cluster: Cluster, path: str, method: str = "GET", **kwargs: object) -> httpx.Response:
    return httpx.request(method, f"{cluster.urls['analytics']}/api/v1/{path}",
                         auth=("grafana", cluster.token), timeout=30, **kwargs)


def test_the_requests_grafana_makes(cluster: Cluster) -> None:
    saved = api(cluster, "query", "POST", data={"query": "1+1", "time": "1795600800"})
    assert saved.json() == {"status": "success",
                            "data": {"resultType": "scalar", "result": [TEN, "2"]}}
    window = {"start": str(NINE), "end": str(ELEVEN)}
    labels = api(cluster, "labels", params=window).json()
    assert labels["status"] == "success"
    assert {"__name__", "le", "method", "route", "source", "status",
            "status_class"} <= set(labels["data"])
    names = api(cluster, "label/__name__/values", params=window).json()["data"]
    assert names == sorted([REQUESTS, ERRORS, BUCKET, "logctl_http_response_bytes_total",
                            "logctl_http_request_duration_seconds_count",
                            "logctl_http_request_duration_seconds_sum",
                            "logctl_malformed_lines_total"])
    routes = api(cluster, "label/route/values", "POST",
                 data={"match[]": f'{REQUESTS}{{status_class="4xx"}}', **window}).json()
    assert routes == {"status": "success", "data": ["/missing"]}
    found = api(cluster, "series", params={"match[]": f'{REQUESTS}{{route="/missing"}}',
                                           **window}).json()
    assert found == {"status": "success", "data": [
        {"__name__": REQUESTS, "method": "GET", "route": "/missing", "source": "web.log",
         "status": "404", "status_class": "4xx"}]}
    assert api(cluster, "series", params={"match": f"{ERRORS}{{{SOURCE}}}", **window}
               ).json()["data"][0]["__name__"] == ERRORS
    info = api(cluster, "status/buildinfo").json()["data"]
    assert tuple(int(p) for p in info["version"].split(".")[:2]) >= (2, 24)
    assert api(cluster, "metadata", params={"metric": REQUESTS}).json()["data"] == {
        REQUESTS: [{"type": "counter", "help": "HTTP requests logged", "unit": ""}]}


@pytest.mark.parametrize("step", ["900", "15m"])
def test_query_range_takes_seconds_and_durations(cluster: Cluster, step: str) -> None:
    body = api(cluster, "query_range", "POST", data={
        "query": f"sum by (status_class) (increase({REQUESTS}{{{SOURCE}}}[15m]))",
        "start": "2026-11-25T09:15:00Z", "end": "2026-11-25T10:00:00Z", "step": step}).json()
    assert body["status"] == "success" and body["data"]["resultType"] == "matrix"
    classes = {s["metric"]["status_class"]: s["values"] for s in body["data"]["result"]}
    stamps = [NINE + 900 * i for i in (1, 2, 3, 4)]
    assert classes["2xx"] == [[t, "60"] for t in stamps]
    assert classes["5xx"] == [[stamps[0], "2"], [stamps[1], "1"], [stamps[2], "2"],
                              [stamps[3], "1"]]
    assert classes["4xx"] == [[stamps[2], "2"]]  # 09:30 lies in [09:30, 09:45)


def test_query_range_with_a_step_under_a_minute(cluster: Cluster) -> None:
    """Grafana zoomed in asks `step=15s`: each time reads the whole minutes before it."""
    body = api(cluster, "query_range", params={
        "query": f"sum(increase({REQUESTS}{{{SOURCE}}}[1m]))", "start": str(NINE),
        "end": str(NINE + 120), "step": "15s"}).json()
    (series,) = body["data"]["result"]
    assert series == {"metric": {}, "values": [
        [NINE + 60, "5"], [NINE + 75, "5"], [NINE + 90, "5"], [NINE + 105, "5"],
        [NINE + 120, "4"]]}  # 09:00 had three GETs, a POST and a 500; 09:01 no 500


def test_errors_come_in_the_prometheus_envelope(cluster: Cluster) -> None:
    unsupported = api(cluster, "query", params={"query": f"abs({REQUESTS})"})
    assert unsupported.status_code == 422
    assert unsupported.json() == {"status": "error", "errorType": "execution",
                                  "error": "function abs() is not supported: use rate, "
                                           "increase, histogram_quantile or an aggregation"}
    bad = api(cluster, "query", params={"query": "sum("})
    assert (bad.status_code, bad.json()["errorType"]) == (400, "bad_data")
    missing = api(cluster, "query_range", params={"query": "1"})
    assert missing.json()["error"] == 'invalid parameter "start": missing'
    unnamed = httpx.get(f"{cluster.urls['analytics']}/api/v1/query", params={"query": "1"})
    assert (unnamed.status_code, unnamed.json()["errorType"]) == (401, "unauthorized")
    bearer = httpx.get(f"{cluster.urls['analytics']}/api/v1/query", params={"query": "1"},
                       headers={"authorization": f"Bearer {cluster.token}"})
    assert bearer.json()["data"]["result"][1] == "1"


def test_a_prometheus_server_scrapes_the_exported_log_metrics(cluster: Cluster) -> None:
    scraped = httpx.get(f"{cluster.urls['analytics']}/metrics",
                        headers={"authorization": f"Bearer {cluster.token}"}).text
    assert 'logctl_http_requests_total{host="",method="GET",route="/missing",' \
           'source="web.log",status="404",status_class="4xx"} 2.0' in scraped
    lint = subprocess.run(["promtool", "check", "metrics"], input=scraped, text=True,
                          capture_output=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    with tempfile.TemporaryDirectory() as scratch:
        server = prometheus_server(Path(scratch), cluster)
        try:
            url = server[1]

            def total() -> float | None:  # None until Prometheus is up and has scraped
                answer = promtool("instant", url, f"sum({REQUESTS}{{{SOURCE}}})", check=False)
                return float(answer[0]["value"][1]) if answer else None

            assert wait_until(total, 60, 0.5, what="Prometheus to scrape") == 494.0
            (errors,) = promtool("instant", url, f"sum({ERRORS}{{{SOURCE}}})")
            assert errors["value"][1] == "12"
            (timed,) = promtool("instant", url, f'sum({BUCKET}{{{SOURCE}, le="+Inf"}})')
            assert timed["value"][1] == "494"
        finally:
            stop(server[0])


def prometheus_server(scratch: Path, cluster: Cluster) -> tuple[subprocess.Popen, str]:
    """Debian's Prometheus on a free port, scraping the analytics daemon every second."""
    (port,) = free_ports(1)
    target = cluster.urls["analytics"].removeprefix("http://")
    config = scratch / "prometheus.yml"
    config.write_text(f"""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: logctl
    authorization:
      credentials: {cluster.token}
    static_configs:
      - targets: ["{target}"]
""")
    process = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={scratch / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
        stderr=open(scratch / "prometheus.log", "wb"))  # noqa: SIM115 (closed with the dir)
    return process, f"http://127.0.0.1:{port}"
