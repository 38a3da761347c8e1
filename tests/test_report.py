"""`logctl report`: the HTML file's figures are `logctl metrics`' figures, and the page,
opened in headless Chromium, makes no request beyond itself, reads with JavaScript off,
and is what docs/report.png shows."""

import http.server
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from logctl.synthetic import Truth, write_log
from tests.test_cli import run, summary

GARBAGE = ["not a log line at all", "GET /half-a-line"]
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--hide-scrollbars", "--no-first-run",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-default-apps"]


@pytest.fixture
def reported(runner: CliRunner, home: Path, tmp_path: Path) -> tuple[Path, Truth]:
    """A day of a moderate site with latencies (and two malformed lines), reported."""
    log = tmp_path / "web.log"
    truth = write_log(str(log), 50_000, seed=5, per_minute=35)
    with log.open("a") as handle:
        handle.write("".join(f"{line}\n" for line in GARBAGE))
    run(runner, "ingest", str(log))
    page = tmp_path / "site" / "report.html"
    page.parent.mkdir()
    shown = run(runner, "report", "-o", str(page))
    assert shown.startswith(f"wrote {page} (")
    assert "50,000 requests, 2025-06-01T00:00:00Z to 2025-06-01T23:48:32Z" in shown
    return page, truth


def embedded_data(page: Path) -> dict:
    text = page.read_text()
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>',
                      text, re.S)
    assert found
    return json.loads(found[1].replace("<\\/", "</"))


def test_the_report_holds_the_figures_metrics_gives(runner: CliRunner, home: Path,
                                                     reported: tuple[Path, Truth]) -> None:
    page, truth = reported
    data = embedded_data(page)
    totals = summary(runner)
    assert data["totals"] == totals
    assert (totals["requests"], totals["errors"], totals["bytes"], totals["malformed"]) == (
        truth.requests, truth.errors, truth.bytes, 2)
    routes = json.loads(run(runner, "metrics", "--by", "route", "--top", "20", "--format",
                            "json"))["groups"]
    assert data["groups"]["route"] == routes
    assert data["step"] == "15m" and len(data["series"]) == 96
    assert sum(entry["requests"] for entry in data["series"]) == truth.requests
    assert [s["line"] for s in data["samples"]] == GARBAGE
    assert [g["latency_ms"]["p95"] for g in data["slowest"]] == sorted(
        (g["latency_ms"]["p95"] for g in data["slowest"]), reverse=True)
    text = page.read_text()
    assert "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text
    assert f'data-total="requests" data-value="{truth.requests}"' in text


def test_report_errors_are_one_line(runner: CliRunner, home: Path, tmp_path: Path) -> None:
    assert "no metrics yet" in run(runner, "report", "-o", str(tmp_path / "r.html"), code=1)


class Counter(http.server.SimpleHTTPRequestHandler):
    """Serves the report's directory and records every request it is sent, directly or
    as the browser's proxy (so a request to any host would reach it too). With `policy`
    set, pages go out with that Content-Security-Policy (script-src 'none': the browser
    runs no script, as with JavaScript off)."""

    seen: ClassVar[list[tuple[str, str]]] = []
    policy: ClassVar[dict[str, str]] = {}

    def end_headers(self) -> None:
        if "csp" in self.policy:
            self.send_header("Content-Security-Policy", self.policy["csp"])
        super().end_headers()

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("referer", "")))
        self.path = urlsplit(self.path).path  # a proxied request names the whole URL
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def served(reported: tuple[Path, Truth]) -> Iterator[tuple[str, list, dict]]:
    page, _ = reported
    seen: list[tuple[str, str]] = []
    policy: dict[str, str] = {}
    handler = type("Handler", (Counter,), {"seen": seen, "policy": policy})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a: handler(*a, directory=str(page.parent)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen, policy
    finally:
        server.shutdown()
        server.server_close()


def chromium(origin: str, tmp_path: Path, *flags: str) -> str:
    """Open the report in headless Chromium, every request sent through the counter."""
    result = subprocess.run(
        [*CHROMIUM, f"--user-data-dir={tmp_path / 'profile'}",
         f"--proxy-server={origin}", "--proxy-bypass-list=<-loopback>",
         "--virtual-time-budget=3000", *flags, f"{origin}/report.html"],
        capture_output=True, text=True, timeout=120)
    return result.stdout


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed "
                    "(.ci/run installs it)")
def test_the_page_in_chromium_requests_nothing_and_reads_without_javascript(
        runner: CliRunner, home: Path, served: tuple[str, list, dict], tmp_path: Path) -> None:
    origin, seen, policy = served
    dom = chromium(origin, tmp_path, "--dump-dom")
    page_requests = [urlsplit(path).path for path, referer in seen
                     if path.endswith("/report.html") or referer.startswith(origin)]
    assert page_requests == ["/report.html"], seen
    totals = summary(runner)
    for name in ("requests", "errors", "client_errors", "bytes", "malformed"):
        assert f'data-total="{name}" data-value="{totals[name]}"' in dom
    assert 'class="tip"' in dom  # the script ran: it adds the pointer's tooltip
    assert dom.count('data-chart="') == 3 and 'data-points="96"' in dom
    policy["csp"] = "script-src 'none'"
    static = chromium(origin, tmp_path, "--dump-dom")
    policy.clear()
    assert 'class="tip"' not in static
    routes = re.search(r'data-table="route">(.*?)</table>', static, re.S)
    assert routes and routes[1].count("<tr>") == 15  # the header and the top 20 of 14 routes
    shot = tmp_path / "report.png"
    chromium(origin, tmp_path, "--window-size=1000,2600", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
