"""Real daemons for tests: `logctl serve --all` as a subprocess on free ports, in a temp
home, stopped (by its pid, with SIGTERM) when the test is done."""

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

START_TIMEOUT_S = 90.0


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on right now (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


TOKENS: dict[str, str] = {}  # REST address -> admin token of the cluster serving it


@dataclass
class Cluster:
    """Addresses of a running cluster, its admin token, and where its data and output
    live."""

    home: Path
    urls: dict[str, str]
    processing_urls: list[str]
    storage_grpc: str
    analytics_grpc: str
    log: Path
    process: subprocess.Popen
    token: str = ""
    storage_urls: list[str] = field(default_factory=list)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def auth(self) -> dict[str, str]:
        """Headers that carry the admin token."""
        return {"authorization": f"Bearer {self.token}"}

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC metadata that carries the admin token."""
        return (("authorization", f"Bearer {self.token}"),)


def wait_until(check, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):
    """Poll `check()` until it returns a truthy value, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


def settle_on(read, want: tuple, timeout: float, names: tuple[str, ...], context=str) -> tuple:
    """Poll `read()` until it equals `want`; else fail saying what was seen against the
    truth, field by field, so a slow machine (still short) can be told from a lost batch
    (short for good) or a doubled one (over). `context()` adds what the daemons said."""
    deadline = time.monotonic() + timeout
    seen: tuple = ()
    while time.monotonic() < deadline:
        seen = tuple(read())
        if seen == want:
            return seen
        time.sleep(0.2)
    fields = ", ".join(f"{name} {got:,} vs {truth:,} ({got - truth:+,})"
                       for name, got, truth in zip(names, seen, want, strict=True))
    raise AssertionError(f"totals not equal to the truth after {timeout:.0f}s: {fields}\n"
                         f"{context()}")


@contextmanager
def running_cluster(home: Path, instances: int = 1, watch: Path | None = None,
                    extra: str = "", tls: tuple[Path, Path] | None = None,
                    storages: int = 1) -> Iterator[Cluster]:
    """Start every service (and `instances` processing instances); stop them after.
    With `tls` (certificate, key; the certificate is also the CA), everything is https
    and gRPC over TLS."""
    home.mkdir(parents=True, exist_ok=True)
    ports = free_ports(6 + instances + 2 * (storages - 1))
    more = ports[6 + instances:]
    names = ["ingest", "storage", "analytics", "monitor"]
    scheme = "https" if tls else "http"
    urls = {name: f"{scheme}://127.0.0.1:{port}"
            for name, port in zip(names, ports, strict=False)}
    processing = [f"{scheme}://127.0.0.1:{port}" for port in ports[6:6 + instances]]
    storage_rest = [urls["storage"], *(f"{scheme}://127.0.0.1:{p}" for p in more[::2])]
    if tls:
        extra += (f'\ntls_cert = "{tls[0]}"\ntls_key = "{tls[1]}"\ntls_ca = "{tls[0]}"')
    grpc_storage = ",".join([f"127.0.0.1:{ports[4]}", *(f"127.0.0.1:{p}" for p in more[1::2])])
    grpc_analytics = f"127.0.0.1:{ports[5]}"
    config = home / "logctl.toml"
    config.write_text("\n".join([
        *(f'{name}_url = "{url}"' for name, url in urls.items() if name != "storage"),
        f'storage_url = "{",".join(storage_rest)}"',
        f"processing_urls = {processing!r}".replace("'", '"'),
        f'storage_grpc = "{grpc_storage}"', f'analytics_grpc = "{grpc_analytics}"',
        "poll_interval = 0.5", extra, ""]))
    command = [sys.executable, "-m", "logctl", "serve", "--all", "--home", str(home),
               "--config", str(config), "--workers", "1", "--instances", str(instances)]
    if watch is not None:
        command += ["--watch", str(watch)]
    log = home / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGCTL_")}
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    cluster = Cluster(home, urls, processing, grpc_storage, grpc_analytics, log, process,
                      storage_urls=storage_rest)
    try:
        wait_until(lambda: process.poll() is not None or "all up" in cluster.output(),
                   START_TIMEOUT_S, what="the cluster to start")
        assert process.poll() is None, cluster.output()
        cluster.token = (home / "admin.token").read_text().strip()
        for url in [*urls.values(), *processing, *storage_rest]:
            TOKENS[url] = cluster.token
        yield cluster
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the supervisor (it stops its children) and wait; SIGKILL if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def health(url: str, verify: str | bool = True) -> dict:
    """A service's full health (with its cluster's admin token)."""
    headers = {"authorization": f"Bearer {TOKENS[url]}"} if url in TOKENS else {}
    return httpx.get(f"{url}/v1/health", timeout=5, headers=headers, verify=verify).json()


def analytics(cluster: Cluster, endpoint: str, verify: ssl.SSLContext | bool = True,
              **params: str) -> dict:
    """An analytics REST answer (`summary`, `top`...) with the cluster's admin token."""
    return httpx.get(f"{cluster.urls['analytics']}/v1/metrics/{endpoint}", params=params,
                     timeout=30, verify=verify, headers=cluster.auth).json()


def source_summary(cluster: Cluster, source: str,
                   verify: ssl.SSLContext | bool = True) -> dict:
    return analytics(cluster, "summary", verify, source=source)


def source_hosts(cluster: Cluster, source: str) -> dict[str, int]:
    """Requests of a source by host."""
    return {group["key"]: group["requests"]
            for group in analytics(cluster, "top", source=source, by="host")["groups"]}


def settled(cluster: Cluster, source: str, requests: int,
            verify: ssl.SSLContext | bool = True) -> dict:
    """A source's summary once it holds `requests` requests (what pushed data reaches)."""
    return wait_until(lambda: (body := source_summary(cluster, source, verify))["requests"]
                      == requests and body, 60, what=f"{requests} requests of {source}; the "
                      f"daemons said:\n{cluster.output()[-2000:]}")
