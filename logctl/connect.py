"""The clients the commands use, chosen once from the settings: embedded (the services
in this process, over the local store) or remote (the daemons at `remote`). Each kind
returns the same result types, so a command renders one result whichever answered.

    ingest = connect_ingest(settings)        # LocalIngest or RemoteIngest
    answer = connect_analytics(settings).answer(request)   # local, REST, or gRPC

Transports are imported only by the remote clients: a local `logctl ingest` of a small
file never pays for importing httpx, FastAPI or gRPC."""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from logctl.auth import caller_token
from logctl.config import Settings
from logctl.errors import UsageError
from logctl.metrics.window import iso
from logctl.services.analytics import MetricsRequest
from logctl.services.ingest import IngestReport
from logctl.services.upkeep import rollups_kept
from logctl.sources import SourceFile
from logctl.store import redact
from logctl.transport.local import embedded, require_store
from logctl.transport.resilience import command_guard

# Bytes done and lines stored since the last call (uploads count no lines).
Progress = Callable[[int, int], None]


class IngestClient(Protocol):
    """Reads inputs into the metrics, here or through an ingest daemon."""

    verb: str  # what the progress bar says: ingest or upload
    where: tuple[str, str]  # ("db", store) or ("remote", url): where the metrics went

    def ingest(self, sources: list[SourceFile],
               progress: Progress | None = None) -> IngestReport:
        """Ingest every input; the report totals them."""
        ...


@dataclass(frozen=True)
class Answer:
    """A metrics answer: the JSON contract, and when it holds no data, a line saying
    what range the data does cover (or that there is none)."""

    body: dict[str, Any]
    empty: bool
    note: str = ""


class AnalyticsClient(Protocol):
    """Answers metrics requests, here or through an analytics daemon."""

    def answer(self, request: MetricsRequest) -> Answer:
        ...


class LocalIngest:
    """The embedded pipeline; it keeps the store's rollups while it writes and rebuilds
    what is left at the end, so a query right after reads rollups."""

    verb = "ingest"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.where = ("db", redact(settings.store_target))

    def ingest(self, sources: list[SourceFile],
               progress: Progress | None = None) -> IngestReport:
        total = sum(s.path.stat().st_size for s in sources if s.path)
        with embedded(self.settings, time.time(), total) as services:
            with rollups_kept(services.store):
                report = services.ingest.ingest(sources, progress)
            services.store.refresh_rollups()
        return report


@dataclass
class Followed:
    """What a follow run ingested until it was stopped."""

    lines: int = 0
    requests: int = 0


class Follower:
    """`logctl ingest --follow`: the embedded pipeline kept open on files and directories,
    reading what is appended as it lands, the way the ingest daemon follows its watched
    roots (the same Intake): a file rotated away is finished from its checkpoint, a
    truncated one read again from its start, a new one under a directory picked up."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.where = ("db", redact(settings.store_target))

    def follow(self, roots: list[Path], stop: threading.Event,
               progress: Callable[[Followed], None], tick: float = 0.5) -> Followed:
        """Follow until `stop` is set or Ctrl-C; what was acknowledged is checkpointed, and
        what was not is read by the next run. `progress` hears the totals every `tick`."""
        from logctl.services.intake import Intake

        total = sum(p.stat().st_size for root in roots for p in _files(root))
        with embedded(self.settings, time.time(), total) as services:
            intake = Intake(lambda fmt: services.ingest, services.checkpoints,
                            services.ingest.stop)
            try:
                with rollups_kept(services.store):
                    for root in roots:
                        intake.add_root(root, self.settings.globs)
                    intake.follow(stop, lambda: progress(Followed(intake.lines,
                                                                  intake.requests)), tick)
            except KeyboardInterrupt:
                pass
            finally:
                intake.close()
            services.store.refresh_rollups()
        return Followed(intake.lines, intake.requests)


def _files(root: Path) -> list[Path]:
    return [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]


class RemoteIngest:
    """Uploads to an ingest daemon and waits for its reports."""

    verb = "upload"

    def __init__(self, settings: Settings) -> None:
        from logctl.transport.rest.client import remote_url

        self.settings = settings
        self.url = remote_url(settings.remote or "", settings.ingest_url)
        self.where = ("remote", self.url)

    def ingest(self, sources: list[SourceFile],
               progress: Progress | None = None) -> IngestReport:
        from logctl.transport.rest.ingest import RestIngestClient, upload_all

        client = RestIngestClient(self.url, guard=command_guard("ingest"),
                                  token=caller_token(self.settings.token, self.settings.home),
                                  ca=self.settings.tls_ca)
        try:
            fmt = self.settings.format if self.settings.format != "auto" else None
            return upload_all(client, sources, fmt,
                              (lambda n: progress(n, 0)) if progress else None)
        finally:
            client.close()


class LocalAnalytics:
    """Queries the local store; an empty answer says what range the data covers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def answer(self, request: MetricsRequest) -> Answer:
        now = time.time()
        query = request.to_query(now)
        require_store(self.settings)
        with embedded(self.settings, now) as services:
            result = services.analytics.answer(request, now)
            if not result.empty:
                return Answer(result.body, False, result.note)
            coverage = services.analytics.coverage(query)
        asked = (f"{iso(query.start) if query.start else 'the beginning'} to "
                 f"{iso(query.end) if query.end else 'now'}")
        note = (f"no data from {asked}, and none stored under these filters"
                if coverage.first is None else
                f"no data from {asked}; the data covers {iso(coverage.first)} to "
                f"{iso(coverage.last)}")
        return Answer(result.body, True, note)


class RemoteAnalytics:
    """Asks an analytics daemon over REST, or over gRPC for a `grpc://` remote."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.grpc = (settings.remote or "").startswith("grpc://")

    def answer(self, request: MetricsRequest) -> Answer:
        from logctl import render

        request.to_query(time.time())  # a bad time or step: the same error as locally
        client = self._client()
        try:
            body = client.answer(request)
        finally:
            client.close()
        empty = not render.has_data(body)
        return Answer(body, empty, "no data in this range" if empty else "")

    def _client(self) -> Any:
        """The REST or gRPC client of the analytics daemon at `remote`."""
        from logctl.transport.rest.client import remote_url

        settings = self.settings
        token = caller_token(settings.token, settings.home)
        if self.grpc:
            from logctl.transport.grpc.analytics import GrpcAnalyticsClient

            url = remote_url(settings.remote or "", f"grpc://{settings.analytics_grpc}")
            return GrpcAnalyticsClient(url.removeprefix("grpc://"), token=token,
                                       ca=settings.tls_ca)
        from logctl.transport.rest.analytics import RestAnalyticsClient

        return RestAnalyticsClient(remote_url(settings.remote or "", settings.analytics_url),
                                   guard=command_guard("analytics"), token=token,
                                   ca=settings.tls_ca)


def connect_ingest(settings: Settings) -> IngestClient:
    """The ingest client the settings ask for."""
    if (settings.remote or "").startswith("grpc://"):
        raise UsageError("ingest daemons take uploads over HTTP: give --remote http://HOST")
    return RemoteIngest(settings) if settings.remote else LocalIngest(settings)


def connect_analytics(settings: Settings) -> AnalyticsClient:
    """The analytics client the settings ask for."""
    return RemoteAnalytics(settings) if settings.remote else LocalAnalytics(settings)
