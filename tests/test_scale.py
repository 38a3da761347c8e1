"""Scale-out on one PostgreSQL: two storage daemons, four processing instances and one
ingest share the database; kill -9 of one storage daemon in the middle of a 200k-line
upload loses and repeats nothing (writers fail over to the other storage daemon through
their load-balanced channel, and the ledger dedupes what is sent again)."""

import os
import signal
from pathlib import Path
from urllib.parse import quote

import pytest

from logctl.services.analytics import MetricsRequest
from logctl.synthetic import Truth, write_log
from logctl.transport.rest.analytics import RestAnalyticsClient
from logctl.transport.rest.ingest import RestIngestClient
from tests.cluster import health, running_cluster, settle_on, wait_until


@pytest.fixture
def big_log(tmp_path: Path) -> tuple[Path, Truth]:
    path = tmp_path / "big.log"
    return path, write_log(str(path), 200_000, seed=11)


def test_two_storage_daemons_on_postgres_survive_kill_9(tmp_path: Path, pg_dsn: str,
                                                        pg_schema: str,
                                                        big_log: tuple[Path, Truth]) -> None:
    log, truth = big_log
    store = f"{pg_dsn}?options={quote(f'-csearch_path={pg_schema}')}"
    extra = f'store = "{store}"\nchunk_size = 262144\ncall_timeout = 5.0'
    with running_cluster(tmp_path / "home", instances=4, storages=2, extra=extra) as cluster:
        first, second = cluster.storage_urls
        assert health(first)["service"] == health(second)["service"] == "storage"
        client = RestIngestClient(cluster.urls["ingest"], token=cluster.token)
        with open(log, "rb") as handle:
            upload = client.upload(handle, "big.log", None)
        wait_until(lambda: health(first).get("writes", 0) >= 5, 120, what="writes on storage.0")
        victim = health(first)["pid"]
        os.kill(victim, signal.SIGKILL)
        done = client.wait(upload["id"], timeout=600)
        client.close()
        assert done["status"] == "done", done
        analytics = RestAnalyticsClient(cluster.urls["analytics"], token=cluster.token)
        want = (truth.requests, truth.errors, truth.client_errors, truth.bytes)
        settle_on(lambda: _totals(analytics.answer(MetricsRequest(sources=["big.log"]))),
                  want, 120, ("requests", "errors", "client_errors", "bytes"),
                  lambda: cluster.output()[-3000:])
        analytics.close()
        assert health(second)["writes"] > 0  # the other daemon took writes too
        assert "storage.0 exited with code -9; restarting it" in cluster.output()


def _totals(body: dict) -> tuple:
    return (body["requests"], body["errors"], body["client_errors"], body["bytes"])
