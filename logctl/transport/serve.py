"""Running one service as a daemon: build the service from settings, wire its peers
(REST and gRPC clients), and serve it on its addresses until SIGINT/SIGTERM, then drain
and close. The services are the same objects the embedded mode wires in-process."""

import asyncio
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import httpx
import psutil
import uvicorn
from fastapi import FastAPI

from logctl.auth import TokenBook, ensure_token
from logctl.checkpoint import DAEMON_CHECKPOINTS, CheckpointBook
from logctl.config import SERVICES, Settings
from logctl.errors import AddressInUse, UsageError
from logctl.formats import FormatOptions
from logctl.metrics.window import parse_duration
from logctl.pb import analytics_pb2_grpc, storage_pb2_grpc
from logctl.services.alerts import rules_from
from logctl.services.analytics import AnalyticsService, FirstAnswering, TieredQueryClient
from logctl.services.ingest import IngestService, IngestSettings
from logctl.services.intake import Intake
from logctl.services.monitor import Monitor, MonitorSettings, Peers
from logctl.services.processing import ParsePool, ProcessingService
from logctl.services.receivers import OtlpMapping, Receiver
from logctl.services.retention import Policy
from logctl.services.storage import StorageService
from logctl.services.syslog_receiver import SyslogBuffer
from logctl.services.webhook import Webhook
from logctl.store import open_store, redact, sqlite_path
from logctl.transport.grpc import analytics as grpc_analytics
from logctl.transport.grpc import storage as grpc_storage
from logctl.transport.grpc.auth import TokenInterceptor
from logctl.transport.grpc.common import mark_serving, new_server
from logctl.transport.lifeline import tie_from_environment
from logctl.transport.resilience import Guard, RetryPolicy, guard_factory
from logctl.transport.rest.analytics import analytics_app
from logctl.transport.rest.client import trust
from logctl.transport.rest.ingest import ingest_app
from logctl.transport.rest.limits import Limits
from logctl.transport.rest.monitor import monitor_app
from logctl.transport.rest.peers import RestAlertSender, RestHealthProbe, RestTrafficSource
from logctl.transport.rest.processing import RestProcessingClient, processing_app
from logctl.transport.rest.storage import RestStorageClient, storage_app
from logctl.transport.spool import Spool, SpoolingStorage
from logctl.transport.syslog import host_port, listening, tls_context

# The role each daemon's own token has: what it needs of its peers. The monitor both
# reads (analytics, full health) and writes its own samples, so it is admin.
SERVICE_ROLES = {"storage": "read", "processing": "ingest", "analytics": "read",
                 "ingest": "ingest", "monitor": "admin"}
LOOPBACK = ("127.0.0.1", "localhost", "::1")
GRACE_S = 10.0
Announce = Callable[[str], None]


@dataclass
class Node:
    """What one daemon knows: its settings, the token book it checks callers against,
    and its own token for calling peers (`service_token`, else one it keeps in
    LOGCTL_HOME/service-NAME.token, made on first start)."""

    settings: Settings
    service: str
    tokens: TokenBook = field(init=False)
    token: str = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = TokenBook(self.settings.home)
        self.token = self.settings.service_token or ensure_token(
            self.settings.home, f"service-{self.service}.token",
            SERVICE_ROLES[self.service], f"{self.service} service")[0]

    @property
    def ca(self) -> str | None:
        return self.settings.tls_ca

    def guards(self) -> Callable[..., Guard]:
        return guard_factory(self.settings.retry_budget, self.settings.faults)

    def storage_client(self, wait_when_open: bool = True) -> grpc_storage.GrpcStorageClient:
        settings = self.settings
        return grpc_storage.GrpcStorageClient(settings.storage_grpc, settings.call_timeout,
                                              self.guards()("storage", wait_when_open),
                                              self.token, self.ca)


def check_bind(url: str, settings: Settings) -> None:
    """Daemons listen on loopback unless TLS protects them or --insecure is given."""
    host, _ = address(url)
    if host in LOOPBACK:
        return
    if settings.tls_cert:
        return
    if not settings.insecure:
        raise UsageError(f"refusing to listen on {host} without TLS: give --tls-cert and "
                         "--tls-key, or --insecure to accept plain text on the network")
    logging.getLogger("logctl").warning("listening on %s without TLS (--insecure): tokens "
                                        "and metrics cross the network in clear", host)


def check_syslog_bind(settings: Settings) -> None:
    """Syslog carries no token: off loopback, a listener takes logs from anyone who can
    reach it, so it needs --insecure (and TCP, TLS, to keep them private on the way)."""
    for kind, setting in (("UDP", "syslog_udp"), ("TCP", "syslog_tcp")):
        where = getattr(settings, setting)
        if not where:
            continue
        host, _ = host_port(where, setting)
        if host in LOOPBACK or settings.insecure:
            continue
        raise UsageError(f"refusing to take syslog over {kind} on {host}: syslog has no "
                         "tokens, anyone who reaches it can send logs; give --insecure to "
                         "accept that (with --tls-cert, TCP is at least encrypted)")


def address(url: str) -> tuple[str, int]:
    """(host, port) of an http URL or a host:port target."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    if not parts.hostname or not parts.port:
        raise UsageError(f"bad address {url!r}: use http://HOST:PORT or HOST:PORT")
    return parts.hostname, parts.port


def check_free(url: str) -> None:
    """Fail with one clear line when the address is taken, before anything starts: which
    process holds it, so a leftover daemon can be found and stopped."""
    host, port = address(url)
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise AddressInUse(f"cannot listen on {host}:{port}: {exc.strerror}"
                               f"{holder_of(port)}") from None


def holder_of(port: int) -> str:
    """' (held by pid N: command line)' for the process listening on a TCP port, or ''
    when it cannot be seen (another user's process without the rights to look)."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN \
                    and conn.pid:
                command = " ".join(psutil.Process(conn.pid).cmdline())
                return f" (held by pid {conn.pid}: {command})"
    except (psutil.Error, OSError):
        pass
    return ""


def instance_list(value: str) -> list[str]:
    """Several instances' addresses in one setting: `a:1,b:2` (storage takes a list)."""
    return [part.strip() for part in value.split(",") if part.strip()]


def nth(addresses: list[str] | tuple[str, ...], instance: int, what: str) -> str:
    if instance >= len(addresses):
        raise UsageError(f"no address for {what} instance {instance}: the setting lists "
                         f"{len(addresses)}")
    return addresses[instance]


def rest_url(settings: Settings, service: str, instance: int = 0) -> str:
    """The REST address a service (instance) listens on."""
    if service == "processing":
        return nth(settings.processing_urls, instance, "processing")
    if service == "storage":
        return nth(instance_list(settings.storage_url), instance, "storage")
    return getattr(settings, f"{service}_url")


async def serve_http(app: FastAPI, url: str, settings: Settings,
                     ready: Callable[[], None]) -> None:
    """Serve an app until SIGINT/SIGTERM (uvicorn handles both and drains requests)."""
    check_bind(url, settings)
    app.state.limits = Limits(settings.max_client_requests, settings.request_timeout)
    app.state.metrics_open = settings.metrics_open
    host, port = address(url)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=int(GRACE_S), access_log=False,
                            ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key)
    server = uvicorn.Server(config)

    async def announce_when_up() -> None:
        while not server.started:
            await asyncio.sleep(0.02)
        ready()

    announcer = asyncio.create_task(announce_when_up())
    try:
        await server.serve()
    finally:
        announcer.cancel()


async def serve_grpc(servicer: Any, add: Callable[[Any, Any], None], name: str, target: str,
                     node: Node, roles: dict[str, str], stack: AsyncExitStack) -> None:
    """Start a grpc.aio server for one servicer (plus health, token checks, TLS when
    configured), stopped when `stack` closes."""
    check_free(target)
    check_bind(target, node.settings)
    server, checker = new_server([TokenInterceptor(node.tokens, roles)])
    add(servicer, server)
    settings = node.settings
    if settings.tls_cert and settings.tls_key:
        pair = (Path(settings.tls_key).read_bytes(), Path(settings.tls_cert).read_bytes())
        server.add_secure_port(target, grpc.ssl_server_credentials([pair]))
    else:
        server.add_insecure_port(target)
    await server.start()
    await mark_serving(checker, [name])
    stack.push_async_callback(server.stop, GRACE_S)


async def run_storage(node: Node, instance: int, announce: Announce) -> None:
    """Storage instance `instance`: several may share one PostgreSQL (or one SQLite
    file); writers reach them all through one load-balanced gRPC channel."""
    settings = node.settings
    url = rest_url(settings, "storage", instance)
    target = nth(instance_list(settings.storage_grpc), instance, "storage gRPC")
    check_free(url)
    service = StorageService(lambda: open_store(settings.store_target, settings.route_cap,
                                                durable=settings.durable, check=True),
                             lambda: open_store(settings.store_target, settings.route_cap),
                             readers=max(2, os.cpu_count() or 1))
    stop = asyncio.Event()
    policy = Policy.of(settings.retention, settings.downsample_after)
    async with AsyncExitStack() as stack:
        stack.callback(service.close)
        upkeep = asyncio.create_task(service.keep_rollups(stop))
        stack.push_async_callback(lambda: upkeep)
        if policy.active and instance == 0:  # one instance prunes a shared store
            pruning = asyncio.create_task(service.keep_pruned(
                stop, policy, lambda: open_store(settings.store_target, settings.route_cap,
                                                 durable=settings.durable),
                settings.prune_interval))
            stack.push_async_callback(lambda: pruning)
        stack.callback(stop.set)
        await serve_grpc(grpc_storage.StorageServicer(service),
                         storage_pb2_grpc.add_StorageServicer_to_server,
                         grpc_storage.SERVICE_NAME, target, node, grpc_storage.ROLES, stack)
        await serve_http(storage_app(service, node.tokens, sqlite_path(settings.store_target)),
                         url, settings, lambda: announce(
            f"storage     REST {url}  gRPC {target}  "
            f"store {redact(settings.store_target)}"))


async def run_processing(node: Node, instance: int, announce: Announce) -> None:
    """Processing writes through a spool: while storage is unreachable, batches wait on
    local disk (home/spool/) and are replayed in order when it answers again."""
    settings = node.settings
    url = rest_url(settings, "processing", instance)
    check_free(url)
    spool = Spool(settings.home / "spool" / f"processing-{instance}.db",
                  settings.spool_max_bytes)
    storage = SpoolingStorage(node.storage_client(wait_when_open=False), spool)
    pool = ParsePool(settings.workers or None)
    try:
        service = ProcessingService(storage, pool, in_flight=1)
        app = processing_app(service, node.tokens, settings.max_body, settings.max_in_flight,
                             storage.health)
        await serve_http(app, url, settings, lambda: announce(
            f"processing  REST {url}  (instance {instance}, storage {settings.storage_grpc}, "
            f"{spool.depth} spooled batches)"))
    finally:
        pool.shutdown()
        storage.close()
        storage.inner.close()


async def run_analytics(node: Node, instance: int, announce: Announce) -> None:
    settings = node.settings
    url = rest_url(settings, "analytics")
    check_free(url)
    recent = node.storage_client()
    histories = [RestStorageClient(storage, settings.call_timeout,
                                   node.guards()(f"storage.{i}"), node.token, node.ca)
                 for i, storage in enumerate(instance_list(settings.storage_url))]
    history = FirstAnswering(histories)  # type: ignore[arg-type]
    window = parse_duration(settings.realtime_window)
    service = AnalyticsService(TieredQueryClient(recent, history, window),
                               settings.max_query_cells)
    async with AsyncExitStack() as stack:
        stack.callback(recent.close)
        for client in histories:
            stack.callback(client.close)
        await serve_grpc(grpc_analytics.AnalyticsServicer(service, settings.storage_grpc,
                                                          node.token, node.ca),
                         analytics_pb2_grpc.add_AnalyticsServicer_to_server,
                         grpc_analytics.SERVICE_NAME, settings.analytics_grpc, node,
                         grpc_analytics.ROLES, stack)
        app = analytics_app(service, node.tokens, settings.export_log_metrics)
        await serve_http(app, url, settings, lambda: announce(
            f"analytics   REST {url}  gRPC {settings.analytics_grpc}"))


async def run_ingest(node: Node, instance: int, announce: Announce) -> None:
    settings = node.settings
    url = rest_url(settings, "ingest")
    check_free(url)
    checkpoints = CheckpointBook(settings.home / DAEMON_CHECKPOINTS)
    processing = RestProcessingClient(list(settings.processing_urls),
                                      timeout=settings.call_timeout, guards=node.guards(),
                                      policy=RetryPolicy(budget=settings.retry_budget),
                                      token=node.token, ca=node.ca)
    ledger = node.storage_client()
    options = settings.format_options(time.time())

    draining = threading.Event()

    def ingest_for(fmt: str | None) -> IngestService:
        return IngestService(processing, ledger, checkpoints, IngestSettings(
            fmt or settings.format, options, settings.chunk_size, settings.engine), draining)

    intake = Intake(ingest_for, checkpoints, draining)
    receiver = Receiver(processing, ingest_for(None).format_for, settings.max_in_flight)
    mapping = OtlpMapping(settings.otlp_duration_attribute, settings.otlp_duration_unit)
    uploads = settings.home / "uploads"
    resumed = intake.resume_uploads(uploads) if uploads.is_dir() else 0
    for path in settings.watch:
        intake.add_root(Path(path), settings.globs)
    check_syslog_bind(settings)
    udp = syslog_buffer("syslog_udp", settings.syslog_udp, receiver, options)
    tcp = syslog_buffer("syslog_tcp", settings.syslog_tcp, receiver, options)
    stop = asyncio.Event()
    watching = asyncio.create_task(intake.watch(stop))
    listens = "".join(f"  syslog {kind} {where}" for kind, where in
                      (("udp", settings.syslog_udp), ("tcp", settings.syslog_tcp)) if where)
    try:
        async with listening(udp, settings.syslog_udp, tcp, settings.syslog_tcp,
                             tls_context(settings.tls_cert, settings.tls_key)):
            await serve_http(ingest_app(intake, uploads, node.tokens, settings.max_upload,
                                        settings.allowed_roots, receiver, mapping,
                                        settings.max_body), url,
                             settings, lambda: announce(
                f"ingest      REST {url}{listens}  watching "
                f"{', '.join(settings.watch) or 'nothing yet'}"
                f"{f', resuming {resumed} uploads' if resumed else ''}"))
    finally:
        stop.set()
        await watching
        await asyncio.to_thread(intake.close)
        processing.close()
        ledger.close()
        checkpoints.close()


def syslog_buffer(name: str, address: str | None, receiver: Receiver,
                  options: FormatOptions) -> SyslogBuffer | None:
    """A listener's buffer, its figures in the ingest daemon's health; None when off."""
    if not address:
        return None
    buffer = SyslogBuffer(name, receiver, options)
    receiver.listeners[name] = buffer.figures
    return buffer


def monitor_targets(settings: Settings) -> dict[str, str]:
    """Every service the monitor polls, by name (itself included: five rows)."""
    targets = {"ingest": settings.ingest_url}
    storages = instance_list(settings.storage_url)
    for i, url in enumerate(storages):
        targets[f"storage.{i}" if len(storages) > 1 else "storage"] = url
    targets["analytics"] = settings.analytics_url
    many = len(settings.processing_urls) > 1
    for i, url in enumerate(settings.processing_urls):
        targets[f"processing.{i}" if many else "processing"] = url
    targets["monitor"] = settings.monitor_url
    return targets


def monitor_settings(settings: Settings) -> MonitorSettings:
    """How the monitor polls: interval, alert thresholds, where traffic comes from, and an
    instance name (host and port) that keeps its stored samples apart from another's."""
    port = address(settings.monitor_url)[1]
    return MonitorSettings(settings.poll_interval, rules=rules_from(settings.alerts),
                           instance=f"{socket.gethostname()}:{port}")


async def run_monitor(node: Node, instance: int, announce: Announce) -> None:
    """The monitor polls with its own token (full health) and posts alerts to the webhook
    with a separate client, so the token never leaves for a third party."""
    settings = node.settings
    url = rest_url(settings, "monitor")
    check_free(url)
    storage = node.storage_client()
    webhook = Webhook(settings.alert_webhook) if settings.alert_webhook else None
    monitor = Monitor(monitor_targets(settings), monitor_settings(settings), storage,
                      webhook.send if webhook else None)
    stop = asyncio.Event()
    auth = {"authorization": f"Bearer {node.token}"}
    async with httpx.AsyncClient(headers=auth, verify=trust(node.ca)) as client, \
            httpx.AsyncClient() as outside:
        peers = Peers(RestHealthProbe(client), RestTrafficSource(client, settings.analytics_url))
        polling = asyncio.create_task(monitor.run(stop, peers))
        sending = asyncio.create_task(webhook.run(RestAlertSender(outside, webhook.url))) \
            if webhook else None
        try:
            await serve_http(monitor_app(monitor, node.tokens), url, settings, lambda: announce(
                f"monitor     REST {url}  polling {len(monitor.targets)} services "
                f"every {settings.poll_interval:g}s"))
        finally:
            stop.set()
            await polling
            if sending:
                sending.cancel()
            storage.close()


RUNNERS: dict[str, Callable[[Node, int, Announce], Awaitable[None]]] = {
    "storage": run_storage, "processing": run_processing, "analytics": run_analytics,
    "ingest": run_ingest, "monitor": run_monitor,
}


def serve_one(service: str, settings: Settings, instance: int, announce: Announce) -> None:
    """Run one service in this process until it is told to stop."""
    if service not in RUNNERS:
        raise UsageError(f"unknown service {service!r}: use one of {', '.join(SERVICES)}")
    tie_from_environment()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s {service} %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll is noise
    asyncio.run(RUNNERS[service](Node(settings, service), instance, announce))
