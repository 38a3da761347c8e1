"""`logctl status` with no daemons: it says so plainly and shows the embedded database;
`--json` keeps one schema (exact keys and types) in both modes."""

import json
from pathlib import Path

from typer.testing import CliRunner

from logctl.cli import app
from tests.cluster import free_ports

TOP = {"mode": str, "monitor_url": str, "message": str, "checked_at": float,
       "interval_s": float, "services": list, "pipeline": dict, "traffic": list,
       "alerts": list, "embedded": (dict, type(None))}
PIPELINE = {"lines_per_s": float, "lag_bytes": int, "lag_s": float, "history": list}
SERVICE = {"name": str, "url": str, "state": str, "reason": str,
           "latency_ms": (float, type(None)), "poll_p95_ms": (float, type(None)),
           "failures": int, "last_ok": (float, type(None)),
           "requests_per_s": (float, type(None)), "error_rate": (float, type(None)),
           "cpu_percent": (float, type(None)), "rss_bytes": (int, type(None)),
           "history": list}
HISTORY = {"t": float, "lines_per_s": float, "lag_bytes": int, "lag_s": float}
TRAFFIC = {"t": str, "requests": int, "errors": int, "error_rate": float,
           "p95_ms": (float, type(None))}
ALERT = {"rule": str, "subject": str, "message": str, "value": (int, float),
         "threshold": (int, float), "state": str, "since": float,
         "resolved_at": (float, type(None))}


def check(value: dict, schema: dict) -> None:
    assert list(value) == list(schema)
    for key, kind in schema.items():
        assert isinstance(value[key], kind), (key, value[key])


def check_status(body: dict) -> None:
    """The whole --json document against its schema."""
    check(body, TOP)
    check(body["pipeline"], PIPELINE)
    for point in body["pipeline"]["history"]:
        check(point, HISTORY)
    for service in body["services"]:
        check(service, SERVICE)
    for minute in body["traffic"]:
        check(minute, TRAFFIC)
    for alert in body["alerts"]:
        check(alert, ALERT)


def flat(text: str) -> str:
    """Text without panel borders and whitespace: the panel wraps at 80 columns, even
    inside a long path."""
    return "".join(text.replace("│", " ").split())


def nobody(home: Path) -> str:
    home.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{free_ports(1)[0]}"
    (home / "logctl.toml").write_text(f'monitor_url = "{url}"\n')
    return url


def test_no_daemons_shows_the_embedded_database(runner: CliRunner, home: Path,
                                                apache_log: Path) -> None:
    url = nobody(home)
    assert runner.invoke(app, ["ingest", str(apache_log)]).exit_code == 0
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    check_status(body)
    assert (body["mode"], body["services"], body["alerts"]) == ("embedded", [], [])
    assert body["message"] == (f"no daemons running (no monitor answers at {url}); showing "
                               f"the embedded database {home / 'logctl.db'}")
    assert {k: body["embedded"]["summary"][k] for k in ("requests", "errors", "malformed")} \
        == {"requests": 9999, "errors": 3, "malformed": 1}
    once = runner.invoke(app, ["status", "--once"], terminal_width=200)
    assert once.exit_code == 0, once.output
    assert flat(f"no daemons running (no monitor answers at {url})") in flat(once.output)
    assert flat("9,999 requests, 3 5xx (0.03%), 2.75 GB, 1 malformed") in flat(once.output)


def test_no_database_yet(runner: CliRunner, home: Path) -> None:
    nobody(home)
    result = runner.invoke(app, ["status", "--once"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert flat(f"{home / 'logctl.db'} does not exist yet (run `logctl ingest FILE`)") \
        in flat(result.output)
    assert not (home / "logctl.db").exists()
