"""`logctl ingest --remote` and `logctl metrics --remote` print what the embedded
commands print, and `logctl serve` refuses what it cannot do in one line."""

import json
import socket
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from logctl.cli import app
from logctl.transport.rest.client import remote_url
from tests.cluster import Cluster

APACHE = Path(__file__).parents[1] / "data" / "apache_logs.log"


def run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_remote_commands_match_embedded(cluster: Cluster, tmp_path: Path) -> None:
    runner = CliRunner()
    log = tmp_path / f"r{uuid.uuid4().hex[:8]}.log"
    log.write_bytes(APACHE.read_bytes())
    report = json.loads(run(runner, "ingest", str(log), "--remote", cluster.urls["ingest"],
                            "--json", "--token", cluster.token))
    assert (report["lines"], report["requests"], report["malformed"]) == (10000, 9999, 1)
    home = tmp_path / "home"
    run(runner, "ingest", str(log), "--home", str(home))
    for extra in ([], ["--by", "method"], ["--step", "1d", "--status", "5xx"]):
        asked = ["metrics", "--source", log.name, "--format", "json", *extra]
        remote = run(runner, *asked, "--remote", cluster.urls["analytics"], "--token",
                     cluster.token)
        local = json.loads(run(runner, *asked, "--home", str(home)))
        assert json.loads(remote) == local
        over_grpc = run(runner, *asked, "--remote", f"grpc://{cluster.analytics_grpc}",
                        "--token", cluster.token)
        assert json.loads(over_grpc) == local


def test_remote_url_takes_the_service_port_when_none_is_given() -> None:
    assert remote_url("http://10.0.0.5", "http://127.0.0.1:7404") == "http://10.0.0.5:7404"
    assert remote_url("10.0.0.5:9000", "http://127.0.0.1:7404") == "http://10.0.0.5:9000"
    assert remote_url("https://[::1]", "http://127.0.0.1:7401") == "https://[::1]:7401"


def test_remote_that_is_not_running_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(app, ["metrics", "--remote", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: analytics at http://127.0.0.1:{port} unreachable")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["serve"], "error: name one service, or give --all"),
    (["serve", "storage", "--all"], "error: name one service, or give --all"),
    (["serve", "billing"], "error: unknown service 'billing'"),
])
def test_serve_refuses_bad_requests(args: list[str], message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*args, "--home", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith(message)


def test_serve_on_a_taken_port_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "logctl.toml").write_text(f'storage_url = "http://127.0.0.1:{port}"\n')
        result = CliRunner().invoke(app, ["serve", "storage", "--home", str(tmp_path),
                                          "--config", str(tmp_path / "logctl.toml")])
    assert result.exit_code == 1
    first_start, error = result.output.splitlines()
    assert first_start.startswith(f"created an admin token in {tmp_path / 'admin.token'}")
    assert error.startswith(f"error: cannot listen on 127.0.0.1:{port}")
