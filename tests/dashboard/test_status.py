"""`logctl status` with no daemons: it says so plainly and shows the embedded database;
`--json` keeps one schema (exact keys and types) in both modes."""

import json
from pathlib import Path

from typer.testing import CliRunner

from logctl.cli import app
from tests.cluster import free_ports
from tests.status_schema import check_status


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
