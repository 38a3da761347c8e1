"""schemathesis against each daemon's published OpenAPI schema, on real ports with an
admin token (bounded examples, fixed seed): no 5xx, and every answer matches the schema
in status code, content type and body."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import Cluster, running_cluster

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    allowed = tmp_path_factory.mktemp("allowed")
    with running_cluster(tmp_path_factory.mktemp("fuzzed"),
                         extra=f'allowed_roots = ["{allowed}"]') as running:
        yield running


@pytest.mark.parametrize("service", ["ingest", "processing", "storage", "analytics", "monitor"])
def test_openapi_fuzzing_finds_nothing(cluster: Cluster, service: str, tmp_path: Path) -> None:
    url = cluster.processing_urls[0] if service == "processing" else cluster.urls[service]
    command = [str(Path(sys.executable).with_name("schemathesis")), "run",
               f"{url}/openapi.json", "--checks", CHECKS, "--max-examples", "25",
               "--seed", "7", "--header", f"Authorization: Bearer {cluster.token}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"})
    assert result.returncode == 0, result.stdout[-6000:]
    assert cluster.process.poll() is None  # nothing it sent took a daemon down
