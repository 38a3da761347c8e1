"""Syslog into a real ingest daemon from senders nobody here wrote: util-linux `logger`
(RFC 5424 over TCP with octet counting, RFC 3164 over UDP), Debian's rsyslog forwarding
with omfwd (TCP octet-counted and UDP) and syslog-ng with its syslog() driver, nginx's
`access_log syslog:` and HAProxy's `log` for requests the test makes. Access logs sent
through syslog count as access logs; other messages as syslog events. Exact counts (UDP
at a rate the test keeps low)."""

import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cluster import (
    Cluster,
    free_ports,
    running_cluster,
    settled,
    source_hosts,
    source_summary,
    stop,
    wait_until,
)
from tests.test_real_servers import (
    HAPROXY,
    NGINX,
    ROUTES,
    TIMES,
    _answers,
    _listening,
    haproxy_config,
    logged_bytes,
    nginx_config,
    send_mix,
)

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
LOGGER = shutil.which("logger") or "/usr/bin/logger"
ACCESS = [f'198.51.100.{i} - - [25/Nov/2026:09:{i:02}:00 +0000] "GET /tcp/{i % 3} HTTP/1.1" '
          f'{503 if i % 4 == 0 else 200} {50 + i} "-" "curl/8.5"' for i in range(12)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    udp, tcp = free_ports(2)
    extra = f'syslog_udp = "127.0.0.1:{udp}"\nsyslog_tcp = "127.0.0.1:{tcp}"'
    with running_cluster(tmp_path_factory.mktemp("syslog") / "home", extra=extra) as running:
        running.syslog = (udp, tcp)  # type: ignore[attr-defined]
        yield running


def logger(*args: str, lines: list[str]) -> None:
    subprocess.run([LOGGER, "-n", "127.0.0.1", *args], input="\n".join(lines) + "\n",
                   text=True, check=True, timeout=30)


def test_logger_over_tcp_octet_counted_events_and_access_lines(cluster: Cluster) -> None:
    _, tcp = cluster.syslog  # type: ignore[attr-defined]
    logger("--rfc5424", "--octet-count", "-T", "-P", str(tcp), "-t", "logger-tcp",
           lines=[f"job {i} done" for i in range(25)])
    assert settled(cluster, "logger-tcp", 25)["errors"] == 0
    logger("--rfc5424", "--octet-count", "-T", "-P", str(tcp), "-t", "web-tcp", lines=ACCESS)
    body = settled(cluster, "web-tcp", 12)
    assert (body["errors"], body["bytes"]) == (3, 12 * 50 + 66)
    assert list(source_hosts(cluster, "web-tcp")) == [socket.gethostname()]  # logger's header
    assert body["first"] == "2026-11-25T09:00:00Z"


def test_logger_over_udp_rfc3164(cluster: Cluster) -> None:
    udp, _ = cluster.syslog  # type: ignore[attr-defined]
    for i in range(20):
        logger("-d", "--rfc3164", "-P", str(udp), "-t", "logger-udp", lines=[f"tick {i}"])
    settled(cluster, "logger-udp", 20)


@pytest.fixture(scope="module")
def rsyslog(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """rsyslogd taking UDP on a free port and forwarding by program name to the daemon:
    rs-tcp over TCP octet-counted, rs-udp over UDP."""
    if not Path(RSYSLOGD).exists():
        pytest.fail("rsyslog is not installed (.ci/run installs Debian's rsyslog)")
    root = tmp_path_factory.mktemp("rsyslog")
    (port,) = free_ports(1)
    udp, tcp = cluster.syslog  # type: ignore[attr-defined]
    (root / "rsyslog.conf").write_text(f"""
global(workDirectory="{root}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{port}" ruleset="forward")
ruleset(name="forward") {{
  if $programname == "rs-tcp" then action(type="omfwd" target="127.0.0.1" port="{tcp}"
                                          protocol="tcp" TCP_Framing="octet-counted")
  if $programname == "rs-udp" then action(type="omfwd" target="127.0.0.1" port="{udp}"
                                          protocol="udp")
  if $programname == "rs-ready" then action(type="omfile" file="{root}/ready.log")
}}
""")
    process = subprocess.Popen([RSYSLOGD, "-n", "-f", str(root / "rsyslog.conf"),
                                "-i", str(root / "rsyslogd.pid")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ready() -> bool:  # UDP cannot be probed: rsyslog writes a file once it listens
        logger("-d", "--rfc3164", "-P", str(port), "-t", "rs-ready", lines=["up?"])
        return (root / "ready.log").exists()

    try:
        wait_until(ready, 20, 0.3, what="rsyslogd to listen")
        yield port
    finally:
        stop(process)


def test_rsyslog_forwards_over_tcp_and_udp(cluster: Cluster, rsyslog: int) -> None:
    for i in range(15):
        logger("-d", "--rfc3164", "-P", str(rsyslog), "-t", "rs-tcp", lines=[f"via tcp {i}"])
        logger("-d", "--rfc3164", "-P", str(rsyslog), "-t", "rs-udp", lines=[f"via udp {i}"])
    settled(cluster, "rs-tcp", 15)
    settled(cluster, "rs-udp", 15)


SYSLOG_NG = Path("/opt/syslog-ng")  # Debian's syslog-ng-core, unpacked there by .ci/run: it
# conflicts with rsyslog as an installed package


def test_syslog_ng_forwards_with_its_syslog_driver(cluster: Cluster, tmp_path: Path) -> None:
    """syslog-ng takes UDP on a free port and sends on with its syslog() driver: RFC 5424
    over TCP, octet-counted."""
    binary = SYSLOG_NG / "usr/sbin/syslog-ng"
    if not binary.exists():
        pytest.fail("syslog-ng is not unpacked in /opt/syslog-ng (.ci/run does it)")
    _, tcp = cluster.syslog  # type: ignore[attr-defined]
    (port,) = free_ports(1)
    (tmp_path / "syslog-ng.conf").write_text(f"""@version: 3.38
options {{ stats_freq(0); }};
source s_in {{ network(ip("127.0.0.1") port({port}) transport("udp")); }};
destination d_logctl {{ syslog("127.0.0.1" port({tcp}) transport("tcp")); }};
destination d_ready {{ file("{tmp_path}/ready.log"); }};
filter f_ready {{ program("sng-ready"); }};
log {{ source(s_in); filter(f_ready); destination(d_ready); flags(final); }};
log {{ source(s_in); destination(d_logctl); }};
""")
    lib = SYSLOG_NG / "usr/lib/syslog-ng"
    process = subprocess.Popen(
        [str(binary), "-F", "-f", str(tmp_path / "syslog-ng.conf"),
         f"--module-path={lib / '3.38'}", f"--persist-file={tmp_path / 'persist'}",
         f"--pidfile={tmp_path / 'pid'}", f"--control={tmp_path / 'ctl'}"],
        env={"LD_LIBRARY_PATH": str(lib)}, stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "stderr.log", "wb"))  # noqa: SIM115 (closed with tmp_path)

    def ready() -> bool:
        logger("-d", "--rfc3164", "-P", str(port), "-t", "sng-ready", lines=["up?"])
        return (tmp_path / "ready.log").exists()

    try:
        wait_until(ready, 20, 0.3, what="syslog-ng to listen")
        for i in range(15):
            logger("-d", "--rfc3164", "-P", str(port), "-t", "sng-app", lines=[f"via sng {i}"])
        settled(cluster, "sng-app", 15)
    finally:
        stop(process)


def test_nginx_access_log_over_syslog(cluster: Cluster,
                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    udp, _ = cluster.syslog  # type: ignore[attr-defined]
    root = tmp_path_factory.mktemp("nginx-syslog")
    (port,) = free_ports(1)
    logs = f"        access_log syslog:server=127.0.0.1:{udp},tag=nginxsys combined;"
    (root / "nginx.conf").write_text(nginx_config(root, port, logs))
    server = subprocess.Popen([NGINX, "-p", str(root), "-c", str(root / "nginx.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(base), 20, what="nginx to start")
        send_mix(base)
    finally:
        server.terminate()
        server.wait(20)
    sent = sum(TIMES.values()) + 1  # and the /ok that found nginx up
    body = settled(cluster, "nginxsys", sent)
    assert (body["errors"], body["client_errors"], body["malformed"]) == (
        TIMES["/boom"], TIMES["/missing"], 0)
    sent_bytes = sum(len(ROUTES[p][1]) * n for p, n in TIMES.items()) + len("hello world")
    assert body["bytes"] == sent_bytes


def test_haproxy_log_over_syslog_rfc5424(cluster: Cluster,
                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    udp, _ = cluster.syslog  # type: ignore[attr-defined]
    root = tmp_path_factory.mktemp("haproxy-syslog")
    (port,) = free_ports(1)
    logs = f"    log stdout format raw local0\n    log 127.0.0.1:{udp} format rfc5424 local0"
    (root / "haproxy.cfg").write_text(haproxy_config(port, logs))
    with open(root / "raw.log", "wb") as raw:
        server = subprocess.Popen([HAPROXY, "-db", "-f", str(root / "haproxy.cfg")], stdout=raw,
                                  stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: _listening(port), 20, what="haproxy to start")
            send_mix(f"http://127.0.0.1:{port}")
            wait_until(lambda: (root / "raw.log").read_bytes().count(b"\n") >= 16, 10,
                       what="haproxy's log lines")
        finally:
            server.terminate()
            server.wait(20)
    body = settled(cluster, "haproxy", sum(TIMES.values()))
    assert (body["errors"], body["client_errors"], body["bytes"]) == (
        TIMES["/boom"], TIMES["/missing"], logged_bytes(root / "raw.log"))


def test_health_counts_each_listener(cluster: Cluster) -> None:
    health = httpx.get(f"{cluster.urls['ingest']}/v1/health",
                       headers={"authorization": f"Bearer {cluster.token}"}).json()
    udp, tcp = health["receivers"]["syslog_udp"], health["receivers"]["syslog_tcp"]
    assert udp["messages"] >= 20 and tcp["messages"] >= 37
    assert udp["dropped"] == tcp["dropped"] == 0


def test_syslog_over_tls_with_openssl(tmp_path: Path) -> None:
    """With a certificate, the TCP listener speaks TLS: `openssl s_client` (verifying
    the daemon's certificate) delivers octet-counted messages, a plain sender does not."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    (tcp,) = free_ports(1)
    with running_cluster(tmp_path / "home", tls=(cert, key),
                         extra=f'syslog_tcp = "127.0.0.1:{tcp}"') as tls_cluster:
        logger("--rfc5424", "--octet-count", "-T", "-P", str(tcp), "-t", "plain-tcp",
               lines=["never read"])
        messages = [f"<14>1 2026-11-25T09:00:{i:02}Z web1 tls-app - - - secured {i}"
                    for i in range(9)]
        framed = "".join(f"{len(m.encode())} {m}" for m in messages)
        sent = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{tcp}",
                               "-CAfile", str(cert), "-verify_return_error"],
                              input=framed, text=True, capture_output=True, timeout=30)
        assert sent.returncode == 0, sent.stderr
        trusted = ssl.create_default_context(cafile=str(cert))
        body = settled(tls_cluster, "tls-app", 9, trusted)
        assert body["first"] == "2026-11-25T09:00:00Z"
        assert source_summary(tls_cluster, "plain-tcp", trusted)["requests"] == 0


@pytest.mark.parametrize("flag, address, message", [
    ("--syslog-udp", "nope", "bad syslog_udp address 'nope': use HOST:PORT"),
    ("--syslog-udp", "0.0.0.0:{free}", "refusing to take syslog over UDP on 0.0.0.0"),
    ("--syslog-tcp", "127.0.0.1:{taken}", "cannot listen for syslog over TCP on 127.0.0.1:"),
])
def test_listen_addresses_that_cannot_work_are_one_line_errors(
        tmp_path: Path, flag: str, address: str, message: str) -> None:
    rest, free = free_ports(2)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        (tmp_path / "logctl.toml").write_text(f'ingest_url = "http://127.0.0.1:{rest}"\n')
        done = subprocess.run(
            [sys.executable, "-m", "logctl", "serve", "ingest", "--home", str(tmp_path),
             "--config", str(tmp_path / "logctl.toml"), flag,
             address.format(free=free, taken=taken)],
            capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], done.stderr
    assert "Traceback" not in done.stderr
