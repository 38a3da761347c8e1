"""The wirings every contract scenario runs against: in-process services, and real
daemons (one `logctl serve --all` for the session) reached over REST and over gRPC.

The daemons' real-time window is set so that its cut-off falls inside the Apache
sample (2015-05-17..20): analytics then answers ranges across it by merging a gRPC half
and a REST half, which is the path most likely to drift."""

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from logctl.config import load_settings
from logctl.services.analytics import AnalyticsService, MetricsRequest
from logctl.services.ingest import IngestService
from logctl.sources import SourceFile
from logctl.transport.grpc.analytics import GrpcAnalyticsClient
from logctl.transport.local import embedded
from logctl.transport.rest.analytics import RestAnalyticsClient
from logctl.transport.rest.ingest import RestIngestClient
from tests.cluster import Cluster, running_cluster

CUT = 1431993600  # 2015-05-19T00:00:00Z
WIRINGS = ("local", "rest", "grpc")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    window_minutes = int((time.time() - CUT) // 60)
    with running_cluster(tmp_path_factory.mktemp("cluster"),
                         extra=f'realtime_window = "{window_minutes}m"') as running:
        yield running


@dataclass
class Wiring:
    """One way to reach the services: ingest a file, ask analytics."""

    name: str
    ingest_file: Any
    ask: Any


@pytest.fixture(params=WIRINGS)
def wiring(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Wiring]:
    cluster = None if request.param == "local" else request.getfixturevalue("cluster")
    with make_wiring(request.param, tmp_path, cluster) as made:
        yield made


@contextmanager
def make_wiring(name: str, tmp_path: Path, cluster: Cluster | None) -> Iterator[Wiring]:
    """In-process services over a fresh database, or clients of the running daemons."""
    if cluster is None:
        settings = load_settings({"home": tmp_path / name}, env={})
        with embedded(settings, time.time()) as services:
            yield Wiring(name, lambda path, source: _local_ingest(services.ingest, path, source),
                         lambda asked: _local_answer(services.analytics, asked))
        return
    uploader = RestIngestClient(cluster.urls["ingest"], token=cluster.token)
    analytics = (RestAnalyticsClient(cluster.urls["analytics"], token=cluster.token)
                 if name == "rest" else
                 GrpcAnalyticsClient(cluster.analytics_grpc, token=cluster.token))
    try:
        yield Wiring(name, lambda path, source: _upload(uploader, path, source),
                     analytics.answer)
    finally:
        uploader.close()
        analytics.close()


def _local_ingest(service: IngestService, path: Path, name: str) -> dict[str, Any]:
    report = service.ingest([SourceFile(path, name)])
    return {"lines": report.lines, "requests": report.requests, "malformed": report.malformed}


def _local_answer(service: AnalyticsService, asked: MetricsRequest) -> dict[str, Any]:
    return service.answer(asked, time.time()).body


def _upload(client: RestIngestClient, path: Path, name: str) -> dict[str, Any]:
    with open(path, "rb") as handle:
        upload = client.upload(handle, name, None)
    done = client.wait(upload["id"], timeout=120)
    assert done["status"] == "done", done
    return {key: done["report"][key] for key in ("lines", "requests", "malformed")}


@pytest.fixture
def source_name() -> str:
    """A source name of this test's own, so tests sharing the daemons never mix."""
    return f"t{uuid.uuid4().hex[:12]}.log"
