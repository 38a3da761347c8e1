"""Monitoring through real daemons: every service's /metrics parses; `logctl status`
(--once, --json, and live in tmux) shows the five services; the web dashboard, loaded in
headless Chromium, shows them and charts the ingested traffic; a service that stops
answering (SIGSTOP) is shown down within 3 polls and its alert fires, then resolves, and
the webhook receives both; the monitor's own samples come back from storage."""

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from logctl.synthetic import clf_time
from logctl.transport.rest.ingest import RestIngestClient
from tests.cluster import Cluster, health, running_cluster, wait_until
from tests.status_schema import check_status

SERVICES = ["ingest", "storage", "analytics", "processing", "monitor"]
LINES, ERRORS = 200, 20


class Hook(BaseHTTPRequestHandler):
    """The alert webhook: keeps every alert posted to it."""

    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        Hook.received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def hook() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, hook: str) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("monitoring")
    with running_cluster(home, extra=f'alert_webhook = "{hook}"') as running:
        ingest_recent(running)
        yield running


def ingest_recent(cluster: Cluster) -> None:
    """LINES requests stamped a minute ago, ERRORS of them 500s, so the last minutes have
    traffic to chart (and a 5xx rate of 10%)."""
    stamp = clf_time(int(time.time()) - 60)
    lines = "".join(f'10.0.0.{i % 250 + 1} - - [{stamp}] "GET /api/items/{i} HTTP/1.1" '
                    f'{500 if i < ERRORS else 200} 512 "-" "curl/8.4.0"\n'
                    for i in range(LINES))
    client = RestIngestClient(cluster.urls["ingest"], token=cluster.token)
    try:
        upload = client.upload(io.BytesIO(lines.encode()), "recent.log", "combined")
        assert client.wait(upload["id"], timeout=60)["status"] == "done"
    finally:
        client.close()


def dashboard(cluster: Cluster) -> dict:
    return httpx.get(f"{cluster.urls['monitor']}/v1/dashboard", timeout=5,
                     headers=cluster.auth).json()


def logctl(cluster: Cluster, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGCTL_")}
    env["COLUMNS"] = "160"
    return subprocess.run([sys.executable, "-m", "logctl", *args, "--home", str(cluster.home),
                           "--config", str(cluster.home / "logctl.toml")],
                          capture_output=True, text=True, env=env, timeout=60)


def test_metrics_of_every_service_parse(cluster: Cluster) -> None:
    urls = {**cluster.urls, "processing": cluster.processing_urls[0]}
    for name, url in urls.items():
        assert httpx.get(f"{url}/metrics", timeout=5).status_code == 401
        response = httpx.get(f"{url}/metrics", timeout=5, headers=cluster.auth)
        assert response.status_code == 200
        families = {f.name: f for f in text_string_to_metric_families(response.text)}
        up = [s for s in families["logctl_state"].samples if s.labels["state"] == "ok"]
        assert [(s.labels["service"], s.value) for s in up] == [(name, 1.0)]
        assert families["logctl_resident_memory_bytes"].samples[0].value > 0
    storage = httpx.get(f"{cluster.urls['storage']}/metrics", timeout=5,
                        headers=cluster.auth).text
    assert "logctl_storage_db_bytes" in storage
    assert "logctl_ingest_lag_bytes" in httpx.get(f"{cluster.urls['ingest']}/metrics",
                                                  headers=cluster.auth).text


def test_status_once_and_json(cluster: Cluster) -> None:
    wait_until(lambda: sum(m["requests"] for m in dashboard(cluster)["traffic"]) == LINES,
               30, what="the monitor to see the ingested traffic")
    result = logctl(cluster, "status", "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    check_status(body)
    assert body["mode"] == "daemons"
    assert [s["name"] for s in body["services"]] == SERVICES
    assert {s["state"] for s in body["services"]} == {"ok"}
    assert (sum(m["requests"] for m in body["traffic"]),
            sum(m["errors"] for m in body["traffic"])) == (LINES, ERRORS)
    assert [a["rule"] for a in body["alerts"]] == ["http_5xx"]
    once = logctl(cluster, "status", "--once")
    assert once.returncode == 0, once.stderr
    rows = [line.split("│")[1].strip() for line in once.stdout.splitlines()
            if line.startswith("│ ") and line.split("│")[1].strip() in SERVICES]
    assert rows == SERVICES
    assert "http_5xx: 5xx are 10.0% of 200 requests in the last 5 minutes" in once.stdout


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed (.ci/run "
                    "installs it)")
def test_live_status_in_tmux(cluster: Cluster) -> None:
    session = f"logctl-status-{os.getpid()}"
    command = (f"env -u COLUMNS -u LINES {sys.executable} -m logctl status "
               f"--home {cluster.home} "
               f"--config {cluster.home / 'logctl.toml'}")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "130", "-y", "45",
                    command], check=True)
    try:
        def screen() -> str:
            return subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                  capture_output=True, text=True).stdout

        def shows_all() -> str:
            text = screen()
            return text if all(f"│ {n} " in text for n in SERVICES) else ""

        try:
            first = wait_until(shows_all, 30, what="the live dashboard in tmux")
        except AssertionError:
            raise AssertionError(f"tmux shows:\n{screen()}") from None
        stamp = first.splitlines()[0]
        wait_until(lambda: screen().splitlines()[0] != stamp, 10, what="a redraw in place")
        assert screen().count("logctl status") == 1  # redrawn, not scrolled
        subprocess.run(["tmux", "send-keys", "-t", session, "C-c"], check=True)
        wait_until(lambda: subprocess.run(["tmux", "has-session", "-t", session],
                                          capture_output=True).returncode != 0,
                   10, what="Ctrl-C to end the dashboard")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed "
                    "(.ci/run installs it)")
def test_web_dashboard_in_headless_chromium(cluster: Cluster, tmp_path: Path) -> None:
    wait_until(lambda: dashboard(cluster)["traffic"], 30, what="traffic in the dashboard")
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
         "--dump-dom", f"{cluster.urls['monitor']}/#token={cluster.token}"],
        capture_output=True, text=True, timeout=120).stdout
    for name in SERVICES:
        assert f'data-service="{name}" data-state="ok"' in dom, dom[:2000]
    assert 'data-chart="requests" data-points="1"' in dom
    assert 'data-chart="error_pct" data-points="1"' in dom
    assert "<path" in dom


def test_stopped_service_goes_down_alert_fires_then_resolves(cluster: Cluster) -> None:
    interval = dashboard(cluster)["interval_s"]
    pid = health(cluster.processing_urls[0])["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        stopped = time.monotonic()
        wait_until(lambda: state(cluster, "processing") == "down", 10, 0.05,
                   what="processing to be shown down")
        assert time.monotonic() - stopped <= 3 * interval + 0.5
        wait_until(lambda: firing(cluster), 10, what="the service_down alert")
        wait_until(lambda: posted("firing"), 10, what="the webhook to get the firing alert")
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(lambda: state(cluster, "processing") == "ok", 15, what="processing back")
    wait_until(lambda: posted("resolved"), 15, what="the webhook to get the resolution")
    alerts = httpx.get(f"{cluster.urls['monitor']}/v1/alerts",
                       headers=cluster.auth).json()["alerts"]
    down = [a for a in alerts if a["rule"] == "service_down"]
    assert [(a["subject"], a["state"]) for a in down] == [("processing", "resolved")]
    assert down[0]["resolved_at"] > down[0]["since"]


def state(cluster: Cluster, name: str) -> str:
    return next(s["state"] for s in dashboard(cluster)["services"] if s["name"] == name)


def firing(cluster: Cluster) -> bool:
    return any(a["rule"] == "service_down" and a["subject"] == "processing"
               for a in dashboard(cluster)["alerts"])


def posted(state_: str) -> bool:
    return any(b["alert"]["rule"] == "service_down" and b["alert"]["state"] == state_
               for b in Hook.received)


def test_monitor_samples_are_stored(cluster: Cluster) -> None:
    def by_host() -> dict:
        result = logctl(cluster, "metrics", "--source", "logctl.monitor", "--by", "host",
                        "--format", "json", "--remote", cluster.urls["analytics"])
        return {g["key"]: g for g in json.loads(result.stdout or "{}").get("groups", [])}

    hosts = wait_until(lambda: set(by_host()) >= set(SERVICES) and by_host(), 90, 1.0,
                       what="a complete minute of monitor samples in storage")
    assert all(g["requests"] > 0 and g["latency_ms"] for g in hosts.values())
