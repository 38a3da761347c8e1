"""Running one service as a daemon: build the service from settings, wire its peers
(REST and gRPC clients), and serve it on its addresses until SIGINT/SIGTERM, then drain
and close. The services are the same objects the embedded mode wires in-process."""

import asyncio
import logging
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn
from fastapi import FastAPI

from logctl.checkpoint import CheckpointBook
from logctl.config import Settings
from logctl.errors import UsageError
from logctl.formats import FormatOptions
from logctl.formats.fields import FieldMap
from logctl.metrics.window import parse_duration
from logctl.pb import analytics_pb2_grpc, storage_pb2_grpc
from logctl.services.alerts import Webhook, rules_from
from logctl.services.analytics import AnalyticsService, TieredQueryClient
from logctl.services.ingest import IngestService, IngestSettings
from logctl.services.intake import Intake
from logctl.services.monitor import Monitor, MonitorSettings
from logctl.services.processing import ProcessingService, worker_pool
from logctl.services.storage import StorageService
from logctl.store.sqlite import SQLiteStore
from logctl.transport.grpc import analytics as grpc_analytics
from logctl.transport.grpc import storage as grpc_storage
from logctl.transport.grpc.common import mark_serving, new_server
from logctl.transport.rest.analytics import analytics_app
from logctl.transport.rest.ingest import ingest_app
from logctl.transport.rest.monitor import monitor_app
from logctl.transport.rest.processing import RestProcessingClient, processing_app
from logctl.transport.rest.storage import RestStorageClient, storage_app

SERVICES = ("storage", "processing", "analytics", "ingest", "monitor")
GRACE_S = 10.0
Announce = Callable[[str], None]


def address(url: str) -> tuple[str, int]:
    """(host, port) of an http URL or a host:port target."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    if not parts.hostname or not parts.port:
        raise UsageError(f"bad address {url!r}: use http://HOST:PORT or HOST:PORT")
    return parts.hostname, parts.port


def check_free(url: str) -> None:
    """Fail with one clear line when the address is taken, before anything starts."""
    host, port = address(url)
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def rest_url(settings: Settings, service: str, instance: int = 0) -> str:
    """The REST address a service (instance) listens on."""
    if service == "processing":
        urls = settings.processing_urls
        if instance >= len(urls):
            raise UsageError(f"no address for processing instance {instance}: "
                             f"processing_urls lists {len(urls)}")
        return urls[instance]
    return getattr(settings, f"{service}_url")


async def serve_http(app: FastAPI, url: str, ready: Callable[[], None]) -> None:
    """Serve an app until SIGINT/SIGTERM (uvicorn handles both and drains requests)."""
    host, port = address(url)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=int(GRACE_S), access_log=False)
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
                     stack: AsyncExitStack) -> None:
    """Start a grpc.aio server for one servicer (plus health), stopped when `stack` closes."""
    check_free(target)
    server, checker = new_server()
    add(servicer, server)
    server.add_insecure_port(target)
    await server.start()
    await mark_serving(checker, [name])
    stack.push_async_callback(server.stop, GRACE_S)


async def run_storage(settings: Settings, instance: int, announce: Announce) -> None:
    url = rest_url(settings, "storage")
    check_free(url)
    service = StorageService(lambda: SQLiteStore(settings.db_path, route_cap=settings.route_cap))
    async with AsyncExitStack() as stack:
        stack.callback(service.close)
        await serve_grpc(grpc_storage.StorageServicer(service),
                         storage_pb2_grpc.add_StorageServicer_to_server,
                         grpc_storage.SERVICE_NAME, settings.storage_grpc, stack)
        await serve_http(storage_app(service, settings.db_path), url, lambda: announce(
            f"storage     REST {url}  gRPC {settings.storage_grpc}  db {settings.db_path}"))


async def run_processing(settings: Settings, instance: int, announce: Announce) -> None:
    url = rest_url(settings, "processing", instance)
    check_free(url)
    storage = grpc_storage.GrpcStorageClient(settings.storage_grpc)
    executor = worker_pool(settings.workers or None)
    try:
        service = ProcessingService(storage, executor, in_flight=1)
        await serve_http(processing_app(service, settings.max_body), url, lambda: announce(
            f"processing  REST {url}  (instance {instance}, storage {settings.storage_grpc})"))
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        storage.close()


async def run_analytics(settings: Settings, instance: int, announce: Announce) -> None:
    url = rest_url(settings, "analytics")
    check_free(url)
    recent = grpc_storage.GrpcStorageClient(settings.storage_grpc)
    history = RestStorageClient(settings.storage_url)
    window = parse_duration(settings.realtime_window)
    service = AnalyticsService(TieredQueryClient(recent, history, window))
    async with AsyncExitStack() as stack:
        stack.callback(recent.close)
        stack.callback(history.close)
        await serve_grpc(grpc_analytics.AnalyticsServicer(service, settings.storage_grpc),
                         analytics_pb2_grpc.add_AnalyticsServicer_to_server,
                         grpc_analytics.SERVICE_NAME, settings.analytics_grpc, stack)
        await serve_http(analytics_app(service), url, lambda: announce(
            f"analytics   REST {url}  gRPC {settings.analytics_grpc}"))


async def run_ingest(settings: Settings, instance: int, announce: Announce) -> None:
    url = rest_url(settings, "ingest")
    check_free(url)
    checkpoints = CheckpointBook(settings.home / "checkpoints.db")
    processing = RestProcessingClient(list(settings.processing_urls))
    ledger = grpc_storage.GrpcStorageClient(settings.storage_grpc)
    options = FormatOptions(settings.rt_unit, FieldMap(dict(settings.fields)), time.time())

    def ingest_for(fmt: str | None) -> IngestService:
        return IngestService(processing, ledger, checkpoints, IngestSettings(
            fmt or settings.format, options, settings.chunk_size, settings.engine))

    intake = Intake(ingest_for, checkpoints)
    for path in settings.watch:
        intake.add_root(Path(path), settings.globs)
    stop = asyncio.Event()
    watching = asyncio.create_task(intake.watch(stop))
    try:
        await serve_http(ingest_app(intake, settings.home / "uploads"), url, lambda: announce(
            f"ingest      REST {url}  watching {', '.join(settings.watch) or 'nothing yet'}"))
    finally:
        stop.set()
        await watching
        await asyncio.to_thread(intake.close)
        processing.close()
        ledger.close()
        checkpoints.close()


def monitor_targets(settings: Settings) -> dict[str, str]:
    """Every service the monitor polls, by name (itself included: five rows)."""
    targets = {"ingest": settings.ingest_url, "storage": settings.storage_url,
               "analytics": settings.analytics_url}
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
                           analytics_url=settings.analytics_url,
                           instance=f"{socket.gethostname()}:{port}")


async def run_monitor(settings: Settings, instance: int, announce: Announce) -> None:
    url = rest_url(settings, "monitor")
    check_free(url)
    storage = grpc_storage.GrpcStorageClient(settings.storage_grpc)
    webhook = Webhook(settings.alert_webhook) if settings.alert_webhook else None
    monitor = Monitor(monitor_targets(settings), monitor_settings(settings), storage,
                      webhook.send if webhook else None)
    stop = asyncio.Event()
    async with httpx.AsyncClient() as client:
        polling = asyncio.create_task(monitor.run(stop, client))
        sending = asyncio.create_task(webhook.run(client)) if webhook else None
        try:
            await serve_http(monitor_app(monitor), url, lambda: announce(
                f"monitor     REST {url}  polling {len(monitor.targets)} services "
                f"every {settings.poll_interval:g}s"))
        finally:
            stop.set()
            await polling
            if sending:
                sending.cancel()
            storage.close()


RUNNERS: dict[str, Callable[[Settings, int, Announce], Awaitable[None]]] = {
    "storage": run_storage, "processing": run_processing, "analytics": run_analytics,
    "ingest": run_ingest, "monitor": run_monitor,
}


def serve_one(service: str, settings: Settings, instance: int, announce: Announce) -> None:
    """Run one service in this process until it is told to stop."""
    if service not in RUNNERS:
        raise UsageError(f"unknown service {service!r}: use one of {', '.join(SERVICES)}")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s {service} %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll is noise
    asyncio.run(RUNNERS[service](settings, instance, announce))
