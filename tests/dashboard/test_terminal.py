"""The terminal dashboard's frame, rendered to a fixed-width console from a fixed status."""

from rich.console import Console

from logctl.dashboard.terminal import frame, sparkline

NAMES = ("ingest", "storage", "analytics", "processing", "monitor")


def row(name: str, state: str = "ok", reason: str = "") -> dict:
    return {"name": name, "url": f"http://{name}", "state": state, "reason": reason,
            "latency_ms": None if state == "down" else 12.5, "poll_p95_ms": 20.0,
            "failures": 3 if state == "down" else 0, "last_ok": 1.0,
            "requests_per_s": 1.25, "error_rate": 0.02, "cpu_percent": 3.5,
            "rss_bytes": 52_000_000, "history": [10.0, 20.0, None, 40.0]}


STATUS = {
    "mode": "daemons", "monitor_url": "http://127.0.0.1:7405",
    "message": "monitor at http://127.0.0.1:7405, polling every 2s",
    "checked_at": 0.0, "interval_s": 2.0,
    "services": [row(n) for n in NAMES[:3]] + [row("processing", "down", "connection refused"),
                                               row("monitor")],
    "pipeline": {"lines_per_s": 1234.5, "lag_bytes": 2048, "lag_s": 1.5,
                 "history": [{"t": 0.0, "lines_per_s": v, "lag_bytes": 0, "lag_s": 0.0}
                             for v in (0.0, 500.0, 1000.0)],
                 "receivers": [{"name": "otlp", "records_per_s": 250.0, "bytes_per_s": 51200.0,
                                "records": 9000, "rejected": 3, "dropped": 0},
                               {"name": "syslog_udp", "records_per_s": 12.5,
                                "bytes_per_s": 1500.0, "records": 450, "rejected": 0,
                                "dropped": 7}]},
    "traffic": [{"t": "2026-01-01T00:00:00Z", "requests": 600, "errors": 6,
                 "error_rate": 0.01, "p95_ms": 84.2}],
    "alerts": [{"rule": "service_down", "subject": "processing", "state": "firing",
                "message": "processing is down: connection refused (3 polls missed)",
                "value": 3, "threshold": 2, "since": 0.0, "resolved_at": None}],
    "embedded": None,
}


def render(status: dict, width: int = 100) -> list[str]:
    console = Console(width=width, record=True, color_system=None, force_terminal=False)
    console.print(frame(status))
    return [line.rstrip() for line in console.export_text().splitlines()]


def test_frame_shows_every_service_pipeline_traffic_and_alerts() -> None:
    lines = render(STATUS)
    rows = {line.split()[1]: line for line in lines if line.startswith("│ ")
            and line.split()[1] in NAMES}
    assert list(rows) == [*NAMES[:3], "processing", "monitor"]
    cells = {name: [c.strip() for c in line.split("│")[1:-1]] for name, line in rows.items()}
    assert cells["ingest"] == ["ingest", "ok", "12.5", "1.25", "2.0%", "3.5", "52.00 MB",
                               "▂▄ █"]
    assert cells["processing"][1:3] == ["down connection refused", "-"]
    text = "\n".join(lines)
    assert "lines/s 1,234.5  ▁▄█" in text
    assert "lag     2.05 kB, 1.5 s" in text
    assert "otlp       250.0 records/s, 51.20 kB/s  9,000 records, 3 rejected, 0 dropped" \
        in text
    assert "syslog_udp 12.5 records/s, 1.50 kB/s  450 records, 0 rejected, 7 dropped" in text
    assert "requests/min       600" in text
    assert "5xx rate         1.00%" in text
    assert "p95 ms            84.2" in text
    assert "service_down: processing is down: connection refused (3 polls missed)" in text


def test_sparkline_scales_to_the_maximum_and_leaves_gaps() -> None:
    assert sparkline([0.0, 1.0, None, 7.0, 3.5]) == "▁▂ █▄"
    assert sparkline([]) == ""
    assert sparkline([1.0] * 50, width=5) == "█████"


def test_embedded_frame_says_no_daemons() -> None:
    status = {**STATUS, "mode": "embedded", "services": [],
              "message": "no daemons running (no monitor answers at http://x:1); "
                         "showing the embedded database /d/logctl.db",
              "embedded": {"db": "/d/logctl.db", "exists": False, "summary": None,
                           "reason": "refused"}}
    text = "\n".join(render(status, 140))
    assert "no daemons running (no monitor answers at http://x:1)" in text
    assert "/d/logctl.db does not exist yet (run `logctl ingest FILE`)" in text
