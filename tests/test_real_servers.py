"""Lines produced by a real server, not by hand: Debian's nginx on a free port writes one
access log per log_format (combined; main with $request_time $upstream_response_time; an
X-Forwarded-For list as the client; a quoted X-Forwarded-For before the client; a
vhost:port prefix) while the test sends a known mix of requests; each log, ingested by
`logctl ingest`, must give exactly the requests, 5xx, 4xx, bytes and routes that were sent."""

import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from logctl.cli import app
from logctl.formats.combined import CombinedParser
from logctl.formats.jsonl import JsonLinesParser
from logctl.formats.record import Record
from logctl.metrics import native, sketch
from logctl.metrics.columnar_json import aggregate_json
from logctl.metrics.points import aggregate_lines
from tests.cluster import free_ports, wait_until
from tests.metrics.test_engines import canonical

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
COMBINED = ('"$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"')
FORMATS = {
    "combined": f"$remote_addr - $remote_user [$time_local] {COMBINED}",
    "main_times": f"$remote_addr - $remote_user [$time_local] {COMBINED} "
                  "$request_time $upstream_response_time",
    "xff_list": f"$proxy_add_x_forwarded_for - $remote_user [$time_local] {COMBINED}",
    "xff_quoted": f'"$http_x_forwarded_for" $remote_addr - $remote_user [$time_local] '
                  f"{COMBINED}",
    "vhost": f"$host:$server_port $remote_addr - $remote_user [$time_local] {COMBINED}",
}
# What the test sends: (path, status, body), each this many times.
ROUTES = {"/ok": (200, "hello world"), "/missing": (404, "nf"), "/boom": (503, "down!"),
          "/users/123": (200, "u")}
TIMES = {"/ok": 7, "/missing": 3, "/boom": 2, "/users/123": 4}


def config(root: Path, port: int) -> str:
    formats = "\n".join(f"    log_format {name} '{spec}';" for name, spec in FORMATS.items()
                         if name != "combined")  # nginx's own, built in
    logs = "\n".join(f"        access_log {root}/{name}.log {name};" for name in FORMATS)
    return nginx_config(root, port, logs, formats)


def nginx_config(root: Path, port: int, logs: str, formats: str = "") -> str:
    """nginx answering ROUTES itself on `port`, logging with the `access_log` lines given
    (and the `log_format` lines they use), everything it writes under `root`."""
    locations = "\n".join(
        f"        location = {path} {{ return {status} \"{body}\"; }}"
        for path, (status, body) in ROUTES.items())
    return f"""
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
{formats}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
{logs}
{locations}
    }}
}}
"""


@pytest.fixture(scope="module")
def nginx_logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int, int]]:
    """nginx started on a free port, sent the test's requests, then stopped (so its logs
    are flushed); yields the log folder, the size of nginx's own 400 page and the port."""
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed (.ci/run installs Debian's nginx-light)")
    root = tmp_path_factory.mktemp("nginx")
    (port,) = free_ports(1)
    (root / "nginx.conf").write_text(config(root, port))
    server = subprocess.Popen([NGINX, "-p", str(root), "-c", str(root / "nginx.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(base), 20, what=f"nginx to start; its log said: "
                   f"{(root / 'error.log').read_text() if (root / 'error.log').exists() else ''}")
        send_mix(base, lambda i: {"x-forwarded-for": f"203.0.113.{i + 1}"})
        bad_page = _send_junk(port)
    finally:
        server.terminate()
        server.wait(20)
    yield root, bad_page, port


def send_mix(base: str, headers=lambda i: {}) -> None:
    """The test's requests: each route of TIMES that many times (`headers(i)` on the i-th)."""
    with httpx.Client(base_url=base) as client:
        for path, times in TIMES.items():
            for i in range(times):
                client.get(path, headers=headers(i))


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/ok", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _send_junk(port: int) -> int:
    """A TLS handshake's first bytes to the HTTP port: nginx answers 400 and logs the
    request as it came; returns the length of the 400 page it sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n")
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    return len(body)


def metrics(runner, db: Path, *extra: str) -> dict:
    shown = runner.invoke(app, ["metrics", "--db", str(db), "--format", "json", *extra])
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.output)


@pytest.mark.parametrize("name", list(FORMATS))
def test_each_nginx_log_format_counts_what_was_sent(nginx_logs: tuple[Path, int, int],
                                                    name: str, runner, tmp_path: Path) -> None:
    root, bad_page, port = nginx_logs
    log, db = root / f"{name}.log", tmp_path / "logctl.db"
    lines = log.read_bytes().splitlines()
    warmup = sum(1 for line in lines if b'"GET /ok ' in line) - TIMES["/ok"]  # start-up polls
    done = runner.invoke(app, ["ingest", str(log), "--db", str(db)])
    assert done.exit_code == 0, done.output
    body = metrics(runner, db)
    sent = {path: TIMES[path] + (warmup if path == "/ok" else 0) for path in TIMES}
    requests = sum(sent.values()) + 1  # and the junk request
    sizes = sum(len(ROUTES[path][1]) * n for path, n in sent.items()) + bad_page
    assert (body["requests"], body["errors"], body["client_errors"], body["bytes"],
            body["malformed"]) == (requests, sent["/boom"], sent["/missing"] + 1, sizes, 0)
    routes = {g["key"]: g["requests"] for g in metrics(runner, db, "--by", "route")["groups"]}
    assert routes == {"/ok": sent["/ok"], "/missing": 3, "/boom": 2, "/users/:id": 4,
                      "(invalid)": 1}
    if name == "main_times":
        assert body["latency_ms"] is not None and body["latency_ms"]["max"] < 1000
    if name == "vhost":
        hosts = {g["key"]: g["requests"] for g in metrics(runner, db, "--by", "host")["groups"]}
        assert hosts == {f"127.0.0.1:{port}": requests - 1, f"localhost:{port}": 1}


@pytest.mark.parametrize("name", [name for name in FORMATS if name != "xff_quoted"])
def test_the_native_scanner_reads_nginx_lines_itself(nginx_logs: tuple[Path, int, int],
                                                     name: str) -> None:
    """Every request nginx logged in these formats (X-Forwarded-For lists, vhosts, times
    after the agent) is read by the C scanner, with the line engine's figures; only the
    junk request's line ('\x16\x03...' as its request) is left to the line parser."""
    data = (nginx_logs[0] / f"{name}.log").read_bytes()
    parser = CombinedParser()
    assert canonical(native.aggregate_clf(data, "auto", parser)) == canonical(
        aggregate_lines(data, parser))
    _, leftovers, counted, *_ = native._clf.scan(data, 0.0, sketch.LN_GAMMA, sketch.MIN_BIN)
    assert counted == len(data.splitlines()) - 1
    assert [line for _, line, *_ in leftovers] == [
        line for line in data.splitlines() if b'"\\x16\\x03' in line]


HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def haproxy_config(port: int, logs: str = "    log stdout format raw local0\n"
                                         "    log stderr format rfc3164 local0") -> str:
    """HAProxy answering ROUTES itself on `port`, logging to the `log` lines given."""
    returns = "\n".join(
        f'    http-request return status {status} content-type text/plain string "{body}"'
        f" if {{ path {path} }}" for path, (status, body) in ROUTES.items())
    return f"""
global
{logs}
defaults
    mode http
    log global
    option httplog
    option dontlognull
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend web
    bind 127.0.0.1:{port}
{returns}
"""


def logged_bytes(log: Path) -> int:
    """HAProxy's own count of bytes sent (headers included, its connection header not), the
    7th field of each line after any syslog header: what logctl must add up."""
    return sum(int(line.rpartition(b"]: ")[2].split()[6]) for line in
               log.read_bytes().splitlines())


@pytest.fixture(scope="module")
def haproxy_logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """HAProxy answering the test's routes itself, logging each request raw to stdout and
    as RFC 3164 syslog to stderr; yields the folder and its port."""
    if not Path(HAPROXY).exists():
        pytest.fail("haproxy is not installed (.ci/run installs Debian's haproxy)")
    root = tmp_path_factory.mktemp("haproxy")
    (port,) = free_ports(1)
    (root / "haproxy.cfg").write_text(haproxy_config(port))
    with open(root / "raw.log", "wb") as raw, open(root / "syslog.log", "wb") as syslog:
        server = subprocess.Popen([HAPROXY, "-db", "-f", str(root / "haproxy.cfg")],
                                  stdout=raw, stderr=syslog)
        try:
            wait_until(lambda: _listening(port), 20, what="haproxy to start")
            send_mix(f"http://127.0.0.1:{port}")
            wait_until(lambda: (root / "raw.log").read_bytes().count(b"\n") >= 16, 10,
                       what="haproxy's log lines")
        finally:
            server.terminate()
            server.wait(20)
    yield root, port


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("name", ["raw", "syslog"])
def test_haproxy_logs_count_what_was_sent(haproxy_logs: tuple[Path, int], name: str,
                                          runner, tmp_path: Path) -> None:
    root, _ = haproxy_logs
    sent_bytes = logged_bytes(root / f"{name}.log")
    assert sent_bytes > sum(len(ROUTES[p][1]) * n for p, n in TIMES.items())  # + headers
    db = tmp_path / "logctl.db"
    done = runner.invoke(app, ["ingest", str(root / f"{name}.log"), "--db", str(db)])
    assert done.exit_code == 0, done.output
    assert "format haproxy" in done.output
    body = metrics(runner, db)
    assert (body["requests"], body["errors"], body["client_errors"], body["bytes"],
            body["malformed"]) == (sum(TIMES.values()), TIMES["/boom"], TIMES["/missing"],
                                   sent_bytes, 0)
    assert body["latency_ms"] is not None
    routes = {g["key"]: g["requests"] for g in metrics(runner, db, "--by", "route")["groups"]}
    assert routes == {"/ok": 7, "/missing": 3, "/boom": 2, "/users/:id": 4}
    hosts = {g["key"] for g in metrics(runner, db, "--by", "host")["groups"]}
    assert hosts == {"web/web"}


CADDY = shutil.which("caddy") or "/usr/bin/caddy"


@pytest.fixture(scope="module")
def caddy_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """Caddy answering the test's routes, writing its JSON access log; yields the log
    and the port (its admin API and automatic HTTPS turned off)."""
    if not Path(CADDY).exists():
        pytest.fail("caddy is not installed (.ci/run installs Debian's caddy)")
    root = tmp_path_factory.mktemp("caddy")
    (port,) = free_ports(1)
    responds = "\n".join(f'    respond {path} "{body}" {status}'
                         for path, (status, body) in ROUTES.items())
    (root / "Caddyfile").write_text(
        "{\n    admin off\n    auto_https off\n}\n"
        f"http://127.0.0.1:{port} {{\n    log {{\n        output file {root}/access.log\n"
        f"    }}\n{responds}\n}}\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "XDG_DATA_HOME": str(root / "data"),
           "XDG_CONFIG_HOME": str(root / "config")}
    server = subprocess.Popen([CADDY, "run", "--config", str(root / "Caddyfile"),
                               "--adapter", "caddyfile"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _listening(port), 30, what="caddy to start")
        send_mix(f"http://127.0.0.1:{port}")
        wait_until(lambda: (root / "access.log").exists() and
                   (root / "access.log").read_bytes().count(b"\n") >= sum(TIMES.values()),
                   10, what="caddy's access log")
    finally:
        server.terminate()
        server.wait(20)
    yield root / "access.log", port


def test_caddy_json_access_log_counts_what_was_sent(caddy_log: tuple[Path, int], runner,
                                                    tmp_path: Path) -> None:
    log, port = caddy_log
    db = tmp_path / "logctl.db"
    done = runner.invoke(app, ["ingest", str(log), "--db", str(db)])
    assert done.exit_code == 0, done.output
    assert "format jsonl" in done.output
    body = metrics(runner, db)
    sizes = sum(len(ROUTES[path][1]) * n for path, n in TIMES.items())
    assert (body["requests"], body["errors"], body["client_errors"], body["bytes"],
            body["malformed"]) == (sum(TIMES.values()), TIMES["/boom"], TIMES["/missing"],
                                   sizes, 0)
    assert body["latency_ms"] is not None and body["latency_ms"]["max"] < 1000
    routes = {g["key"]: g["requests"] for g in metrics(runner, db, "--by", "route")["groups"]}
    assert routes == {"/ok": 7, "/missing": 3, "/boom": 2, "/users/:id": 4}
    methods = {g["key"] for g in metrics(runner, db, "--by", "method")["groups"]}
    assert methods == {"GET"}
    hosts = {g["key"] for g in metrics(runner, db, "--by", "host")["groups"]}
    assert hosts == {f"127.0.0.1:{port}"}


def test_caddy_json_access_log_takes_the_columnar_engines_fast_path(
        caddy_log: tuple[Path, int]) -> None:
    """Caddy nests the request (method, uri, host) and its header maps: the columnar JSON
    engine reads every line itself, with the line engine's figures."""
    data = caddy_log[0].read_bytes()
    asked: list[bytes] = []
    parser = JsonLinesParser()

    def counting(line: bytes) -> Record | None:
        asked.append(line)
        return parser(line)

    fast = aggregate_json(data, parser.fields, counting)
    assert canonical(fast) == canonical(aggregate_lines(data, parser))
    assert (fast.requests, asked) == (sum(TIMES.values()), [])
