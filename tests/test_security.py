"""Authentication, authorization and hostile requests against real daemons: every role and
endpoint on REST and gRPC (allowed, 401, 403), minimal health without a token, tokens
managed from the CLI and stored hashed with mode 0600, path traversal and symlinks out
of the allowed roots refused with nothing read, size, query and per-client limits, and
TLS on REST and gRPC."""

import json
import os
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from typer.testing import CliRunner

from logctl.auth import TokenBook, allows
from logctl.cli import app
from logctl.pb import analytics_pb2 as apb
from logctl.pb import analytics_pb2_grpc as apb_grpc
from logctl.pb import storage_pb2 as spb
from logctl.pb import storage_pb2_grpc as spb_grpc
from logctl.services.analytics import MetricsRequest
from logctl.transport.grpc.analytics import GrpcAnalyticsClient
from logctl.transport.rest.analytics import RestAnalyticsClient
from logctl.transport.rest.client import trust
from tests.cluster import Cluster, health, running_cluster, wait_until

ROLES = ("ingest", "read", "admin")
LOG = b'10.0.0.1 - - [01/Jun/2025:00:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "x"\n'


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    allowed = tmp_path_factory.mktemp("allowed")
    extra = (f'allowed_roots = ["{allowed}"]\nmax_upload = 1048576\n'
             "max_query_cells = 100\nmax_client_requests = 2")
    with running_cluster(tmp_path_factory.mktemp("secure"), extra=extra) as running:
        running.allowed = allowed  # type: ignore[attr-defined]
        yield running


@pytest.fixture(scope="module")
def tokens(cluster: Cluster) -> dict[str, str]:
    book = TokenBook(cluster.home)
    made = {role: book.create(role, f"test {role}") for role in ROLES}
    time.sleep(1.2)  # daemons re-read the token file at most once a second
    return made


def rest_endpoints(cluster: Cluster) -> list[tuple[str, str, str, str, dict]]:
    """(name, method, url, role needed, request options) for every guarded endpoint."""
    ingest, storage = cluster.urls["ingest"], cluster.urls["storage"]
    analytics, monitor = cluster.urls["analytics"], cluster.urls["monitor"]
    chunk = {"params": {"source": "s", "source_id": "sec", "start": 0, "end": len(LOG),
                        "format": "combined"},
             "content": LOG, "headers": {"content-type": "application/octet-stream"}}
    return [
        ("upload", "POST", f"{ingest}/v1/uploads?name=sec.log", "ingest",
         {"content": LOG, "headers": {"content-type": "application/octet-stream"}}),
        ("uploads", "GET", f"{ingest}/v1/uploads", "ingest", {}),
        ("upload status", "GET", f"{ingest}/v1/uploads/none", "ingest", {}),
        ("add source", "POST", f"{ingest}/v1/sources", "admin",
         {"json": {"path": str(cluster.allowed)}}),  # type: ignore[attr-defined]
        ("sources", "GET", f"{ingest}/v1/sources", "read", {}),
        ("chunk", "POST", f"{cluster.processing_urls[0]}/v1/chunks", "ingest", chunk),
        ("query", "GET", f"{storage}/v1/query", "read", {}),
        ("coverage", "GET", f"{storage}/v1/coverage", "read", {}),
        ("metrics", "GET", f"{storage}/metrics", "read", {}),
        ("summary", "GET", f"{analytics}/v1/metrics/summary", "read", {}),
        ("top", "GET", f"{analytics}/v1/metrics/top?by=route", "read", {}),
        ("series", "GET", f"{analytics}/v1/metrics/timeseries?step=1h", "read", {}),
        ("services", "GET", f"{monitor}/v1/services", "read", {}),
        ("alerts", "GET", f"{monitor}/v1/alerts", "read", {}),
        ("dashboard", "GET", f"{monitor}/v1/dashboard", "read", {}),
    ]


def test_every_rest_endpoint_by_every_role(cluster: Cluster, tokens: dict[str, str]) -> None:
    for name, method, url, needed, options in rest_endpoints(cluster):
        options = dict(options)
        headers = options.pop("headers", {})
        for label, token in (("no token", None), ("bad token", "lct_nope_nope"),
                             *((role, tokens[role]) for role in ROLES)):
            sent = {**headers, **({"authorization": f"Bearer {token}"} if token else {})}
            response = httpx.request(method, url, headers=sent, timeout=10, **options)
            if token is None or label == "bad token":
                want = {401}
            elif allows(label, needed):
                want = set(range(200, 300)) | {404}
            else:
                want = {403}
            assert response.status_code in want, (name, label, response.status_code,
                                                  response.text)
            if response.status_code in (401, 403):
                assert response.json()["error"]["code"] in ("unauthorized", "forbidden")
                if token:
                    assert token not in response.text  # never echoed back


GRPC_METHODS = [
    ("storage", "Write", "ingest", spb.Batch(source="s", position=spb.Position(
        source_id="sec-grpc", start=0, end=1))),
    ("storage", "CommittedEnd", "ingest", spb.CommittedEndRequest(source_id="x")),
    ("storage", "Query", "read", spb.RangeQuery()),
    ("storage", "GetCoverage", "read", spb.RangeQuery()),
    ("analytics", "Summary", "read", apb.MetricsRequest()),
    ("analytics", "Top", "read", apb.MetricsRequest(by="route")),
    ("analytics", "TimeSeries", "read", apb.MetricsRequest(step="1h")),
]


def test_every_grpc_method_by_every_role(cluster: Cluster, tokens: dict[str, str]) -> None:
    stubs = {"storage": (cluster.storage_grpc, spb_grpc.StorageStub),
             "analytics": (cluster.analytics_grpc, apb_grpc.AnalyticsStub)}
    for service, method, needed, message in GRPC_METHODS:
        target, stub_class = stubs[service]
        with grpc.insecure_channel(target) as channel:
            call = getattr(stub_class(channel), method)
            for label, token in (("no token", None), ("bad token", "lct_x_y"),
                                 *((role, tokens[role]) for role in ROLES)):
                metadata = (("authorization", f"Bearer {token}"),) if token else ()
                try:
                    call(message, timeout=10, metadata=metadata)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as exc:
                    code = exc.code()
                if token is None or label == "bad token":
                    assert code == grpc.StatusCode.UNAUTHENTICATED, (method, label)
                elif allows(label, needed):
                    assert code == grpc.StatusCode.OK, (method, label, code)
                else:
                    assert code == grpc.StatusCode.PERMISSION_DENIED, (method, label)


@pytest.mark.parametrize(("service", "needed"), [("storage", "read"), ("analytics", "read")])
def test_watch_streams_need_read(cluster: Cluster, tokens: dict[str, str], service: str,
                                 needed: str) -> None:
    target = cluster.storage_grpc if service == "storage" else cluster.analytics_grpc
    with grpc.insecure_channel(target) as channel:
        if service == "storage":
            watch = spb_grpc.StorageStub(channel).Watch
            message = spb.RangeQuery()
        else:
            watch = apb_grpc.AnalyticsStub(channel).Watch
            message = apb.MetricsRequest()
        for label, token in (("none", None), *((role, tokens[role]) for role in ROLES)):
            metadata = (("authorization", f"Bearer {token}"),) if token else ()
            try:
                next(iter(watch(message, timeout=1.0, metadata=metadata)))
                seen = "an update"  # a batch landed meanwhile (the monitor's samples)
            except grpc.RpcError as caught:
                seen = caught.code()
            allowed = ("an update", grpc.StatusCode.DEADLINE_EXCEEDED)  # streaming, open
            if token is None:
                assert seen == grpc.StatusCode.UNAUTHENTICATED, label
            elif allows(label, needed):
                assert seen in allowed, label
            else:
                assert seen == grpc.StatusCode.PERMISSION_DENIED, label


def test_health_is_minimal_without_a_token(cluster: Cluster) -> None:
    for url in [*cluster.urls.values(), *cluster.processing_urls]:
        bare = httpx.get(f"{url}/v1/health", timeout=5).json()
        assert set(bare) == {"service", "status"}
        assert bare["status"] == "ok"
        assert {"pid", "rss_bytes", "version"} <= set(health(url))


def test_tokens_from_the_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path)]
    made = runner.invoke(app, ["token", "create", "--role", "read", "--name", "grafana",
                               "--json", *home])
    assert made.exit_code == 0, made.output
    body = json.loads(made.stdout)
    assert body["role"] == "read" and body["token"].startswith("lct_")
    assert TokenBook(tmp_path).role_of(body["token"]) == "read"
    listed = runner.invoke(app, ["token", "list", *home]).stdout
    token_id = body["token"].split("_")[1]
    assert listed.startswith(f"{token_id}  read  ") and "grafana" in listed
    assert body["token"].split("_", 2)[2] not in (tmp_path / "tokens").read_text()
    assert stat.S_IMODE((tmp_path / "tokens").stat().st_mode) == 0o600
    revoked = runner.invoke(app, ["token", "revoke", token_id, *home])
    assert revoked.exit_code == 0
    assert TokenBook(tmp_path).role_of(body["token"]) is None
    bad = runner.invoke(app, ["token", "create", "--role", "root", *home])
    assert bad.exit_code == 2
    assert bad.output.startswith("error: unknown role 'root'")


def test_daemon_tokens_are_private(cluster: Cluster) -> None:
    for name in ("admin.token", "tokens", "service-ingest.token", "service-monitor.token"):
        assert stat.S_IMODE((cluster.home / name).stat().st_mode) == 0o600, name


def test_revoked_token_is_refused_within_a_second(cluster: Cluster) -> None:
    book = TokenBook(cluster.home)
    token = book.create("read", "short-lived")
    summary = f"{cluster.urls['analytics']}/v1/metrics/summary"
    auth = {"authorization": f"Bearer {token}"}
    wait_until(lambda: httpx.get(summary, headers=auth).status_code == 200, 5,
               what="the new token to be accepted")
    book.revoke(token.split("_")[1])
    wait_until(lambda: httpx.get(summary, headers=auth).status_code == 401, 5,
               what="the revoked token to be refused")


def test_a_new_token_works_at_once_over_rest_and_grpc(cluster: Cluster) -> None:
    """`logctl token create`, then the very next call uses it: no 401 while the daemon's
    once-a-second look at the token file has not come round yet."""
    runner = CliRunner()
    summary = f"{cluster.urls['analytics']}/v1/metrics/summary"
    for _ in range(5):
        assert httpx.get(summary, headers=cluster.auth).status_code == 200  # file just read
        made = runner.invoke(app, ["token", "create", "--role", "read", "--json",
                                   "--home", str(cluster.home)])
        assert made.exit_code == 0, made.output
        token = json.loads(made.stdout)["token"]
        assert httpx.get(summary, headers={"authorization": f"Bearer {token}"}
                         ).status_code == 200
        client = GrpcAnalyticsClient(cluster.analytics_grpc, token=token)
        try:
            assert client.answer(MetricsRequest())["requests"] >= 0
        finally:
            client.close()
        runner.invoke(app, ["token", "revoke", token.split("_")[1], "--home",
                            str(cluster.home)])


def _secret_source(cluster: Cluster) -> dict:
    client = RestAnalyticsClient(cluster.urls["analytics"], token=cluster.token)
    try:
        return client.answer(MetricsRequest(by="source"))
    finally:
        client.close()


@pytest.mark.parametrize("attempt", ["../", "absolute", "symlink", "relative", "missing"])
def test_paths_outside_the_allowed_roots_are_refused(cluster: Cluster, tmp_path: Path,
                                                     attempt: str) -> None:
    allowed: Path = cluster.allowed  # type: ignore[attr-defined]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.log").write_bytes(LOG)
    link = allowed / f"link-{attempt}"
    path = {"../": f"{allowed}/../{tmp_path.name}/outside", "absolute": str(outside),
            "relative": "outside", "missing": "/etc/no-such-dir"}.get(attempt, str(link))
    if attempt == "symlink":
        link.symlink_to(outside, target_is_directory=True)
    response = httpx.post(f"{cluster.urls['ingest']}/v1/sources", json={"path": path},
                          headers=cluster.auth, timeout=10)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forbidden"
    time.sleep(0.5)
    assert "secret.log" not in json.dumps(_secret_source(cluster))
    listed = httpx.get(f"{cluster.urls['ingest']}/v1/sources", headers=cluster.auth).json()
    assert all(not s["path"].startswith(str(outside)) for s in listed["sources"])


def test_a_symlink_inside_a_root_pointing_out_is_not_read(cluster: Cluster,
                                                          tmp_path: Path) -> None:
    allowed: Path = cluster.allowed  # type: ignore[attr-defined]
    watched = allowed / "watched"
    watched.mkdir()
    (tmp_path / "private.log").write_bytes(LOG)
    (watched / "evil.log").symlink_to(tmp_path / "private.log")
    (watched / "fine.log").write_bytes(LOG)
    response = httpx.post(f"{cluster.urls['ingest']}/v1/sources", json={"path": str(watched)},
                          headers=cluster.auth, timeout=10)
    assert response.status_code == 201, response.text
    keys = lambda: {g["key"] for g in _secret_source(cluster)["groups"]}  # noqa: E731
    wait_until(lambda: "fine.log" in keys(), 30, what="fine.log to be ingested")
    assert "evil.log" not in keys()


def test_oversized_upload_is_413(cluster: Cluster) -> None:
    response = httpx.post(f"{cluster.urls['ingest']}/v1/uploads?name=big.log",
                          content=LOG * 20_000, timeout=30,
                          headers={**cluster.auth, "content-type": "application/octet-stream"})
    assert response.status_code == 413
    assert "limit" in response.json()["error"]["message"]


def test_query_over_the_cell_limit_is_refused(cluster: Cluster) -> None:
    for client in (RestAnalyticsClient(cluster.urls["analytics"], token=cluster.token),
                   GrpcAnalyticsClient(cluster.analytics_grpc, token=cluster.token)):
        with pytest.raises(Exception, match="over the limit of 100"):
            client.answer(MetricsRequest(step="1m", since="7d"))
        client.close()


def test_one_client_gets_429_past_its_concurrent_requests(cluster: Cluster) -> None:
    """Two uploads held open (their bodies trickle in); a third request is refused, but
    health is not: the monitor's polls from the same host took a holder's place before."""
    release = threading.Event()
    underway = threading.Semaphore(0)

    def trickle() -> Iterator[bytes]:
        yield LOG
        underway.release()  # the headers and a first part are sent: the upload is in flight
        release.wait(20)
        yield LOG

    def slow_upload() -> None:
        httpx.post(f"{cluster.urls['ingest']}/v1/uploads?name=slow.log", content=trickle(),
                   headers={**cluster.auth, "content-type": "application/octet-stream"},
                   timeout=30)

    holders = [threading.Thread(target=slow_upload) for _ in range(2)]
    for holder in holders:
        holder.start()
    try:
        # Ask only once both are in flight: a probe sent earlier could take one of the two
        # places and turn an upload away instead.
        assert underway.acquire(timeout=20) and underway.acquire(timeout=20)
        third = wait_until(lambda: _third(cluster), 10, what="a 429 for the third request")
        assert third.headers["retry-after"] == "1"
        # Health still answers the same client (the monitor polls from this host too).
        assert httpx.get(f"{cluster.urls['ingest']}/v1/health", headers=cluster.auth,
                         timeout=5).status_code == 200
    finally:
        release.set()
        for holder in holders:
            holder.join(30)
    assert httpx.get(f"{cluster.urls['ingest']}/v1/uploads",
                     headers=cluster.auth).status_code == 200


def _third(cluster: Cluster) -> httpx.Response | None:
    response = httpx.get(f"{cluster.urls['ingest']}/v1/uploads", headers=cluster.auth)
    return response if response.status_code == 429 else None


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_tls_on_rest_and_grpc(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    cert = certificate[0]
    with running_cluster(tmp_path / "home", tls=certificate) as cluster:
        assert cluster.urls["analytics"].startswith("https://")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{cluster.urls['analytics']}/v1/health", timeout=5)  # not trusted
        plain = cluster.urls["analytics"].replace("https://", "http://")
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{plain}/v1/health", timeout=5)
        rest = RestAnalyticsClient(cluster.urls["analytics"], token=cluster.token,
                                   ca=str(cert))
        rpc = GrpcAnalyticsClient(cluster.analytics_grpc, token=cluster.token, ca=str(cert))
        try:
            assert rest.answer(MetricsRequest()) == rpc.answer(MetricsRequest())
        finally:
            rest.close()
            rpc.close()
        with grpc.insecure_channel(cluster.analytics_grpc) as channel, \
                pytest.raises(grpc.RpcError):
            apb_grpc.AnalyticsStub(channel).Summary(apb.MetricsRequest(), timeout=5)
        states = httpx.get(f"{cluster.urls['monitor']}/v1/services", headers=cluster.auth,
                           verify=trust(str(cert)), timeout=5).json()["services"]
        wait_until(lambda: all(s["state"] == "ok" for s in httpx.get(
            f"{cluster.urls['monitor']}/v1/services", headers=cluster.auth,
            verify=trust(str(cert)), timeout=5).json()["services"]), 20,
            what=f"every service ok over TLS: {states}")


def test_non_loopback_bind_needs_tls_or_insecure(tmp_path: Path) -> None:
    config = tmp_path / "logctl.toml"
    config.write_text('storage_url = "http://0.0.0.0:1"\n')
    result = CliRunner().invoke(app, ["serve", "storage", "--home", str(tmp_path),
                                      "--config", str(config)])
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0 without TLS" in result.output
    assert os.path.exists(tmp_path / "admin.token")
