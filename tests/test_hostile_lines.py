"""One hostile line never fails a chunk, a file or a daemon: mixed chunks of valid lines and
hostile ones (arbitrary bytes, huge numbers, huge years, 10k-digit fields) go through
`logctl ingest` on every engine and through a processing daemon's REST endpoint; the valid
lines come out exact, the rest count as malformed, and no traceback is printed."""

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logctl.cli import app
from tests.cluster import Cluster, running_cluster

# Valid lines, each a request of 200 bytes with a 5xx among them; distinct minutes so no
# hostile line can take a valid line's place.
VALID = [
    b'1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET /a HTTP/1.1" 200 200 "-" "x"',
    b'1.2.3.4 - - [10/Oct/2000:13:56:36 +0000] "POST /b HTTP/1.1" 503 200 "-" "x" 0.25',
    b'1.2.3.4 - - [10/Oct/2000:13:57:36 +0000] "GET /c HTTP/1.1" 404 200',
]
YEAR = b'1.2.3.4 - - [10/Oct/99999999999:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "x"'
SIZE = (b'1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 ' + b"9" * 4301
        + b' "-" "x"')
HOSTILE = [
    YEAR,
    SIZE,
    b'1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 ' + b"9" * 16,
    b'1.2.3.4 - - [10/Oct/1969:23:59:59 +0000] "GET / HTTP/1.1" 200 1',
    b'1.2.3.4 - - [10/Oct/0001:00:00:00 +0000] "GET / HTTP/1.1" 200 1',
    b'1.2.3.4 - - [10/Oct/2000:13:55:36 +' + b"9" * 10000 + b'] "GET / HTTP/1.1" 200 1',
    b'1.2.3.4 - - [' + b"9" * 10000 + b'/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1',
    b'1.2.3.4 - - [10/Oct/2000:' + b"9" * 10000 + b':55:36 +0000] "GET / HTTP/1.1" 200 1',
]
TRUTH = {"requests": 3, "errors": 1, "client_errors": 1, "bytes": 600}


def hostile_bytes() -> st.SearchStrategy[bytes]:
    """Lines no format should read as a request of these minutes."""
    digits = st.integers(300, 10_000).map(lambda n: b"9" * n)
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.binary(max_size=80).map(lambda b: b"#" + b.replace(b"\n", b" ")),
        digits.map(lambda d: YEAR.replace(b"99999999999", d)),
        digits.map(lambda d: SIZE.replace(b"9" * 4301, d)),
    )


@st.composite
def mixed_chunk(draw: st.DrawFn) -> tuple[bytes, int]:
    """The valid lines in order with hostile ones between them, and the hostile count."""
    lines: list[bytes] = []
    hostile = 0
    for line in VALID:
        extra = draw(st.lists(hostile_bytes(), max_size=3))
        lines += [*extra, line]
        hostile += len(extra)
    return b"\n".join(lines) + b"\n", hostile


def ingest_and_total(data: bytes, engine: str, runner) -> dict:
    """`logctl ingest` of the chunk as a combined log into a new database, then its totals."""
    with tempfile.TemporaryDirectory() as tmp:
        log, db = Path(tmp) / "access.log", Path(tmp) / "logctl.db"
        log.write_bytes(data)
        env = {"LOGCTL_ENGINE": engine}
        done = runner.invoke(app, ["ingest", str(log), "--db", str(db), "--format",
                                   "combined"], env=env)
        assert done.exit_code == 0, done.output
        assert "Traceback" not in done.output
        shown = runner.invoke(app, ["metrics", "--db", str(db), "--format", "json"], env=env)
        assert shown.exit_code == 0, shown.output
        return json.loads(shown.output)


def test_a_log_opening_with_a_nul_and_long_junk_lines_is_still_a_log(runner) -> None:
    """A NUL in the first line and 30 kB of junk before the first request (what the mixed
    chunks below can draw): the start still holds a line a format reads, so not binary."""
    junk = [b"#\x00", HOSTILE[5], HOSTILE[6], HOSTILE[7]]
    body = ingest_and_total(b"\n".join(junk + VALID) + b"\n", "auto", runner)
    assert {key: body[key] for key in TRUTH} == TRUTH
    assert body["malformed"] == 4


@pytest.mark.parametrize("engine", ["auto", "columnar", "python"])
def test_the_two_reproducers_are_malformed_lines(engine: str, runner) -> None:
    body = ingest_and_total(b"\n".join([VALID[0], YEAR, SIZE]) + b"\n", engine, runner)
    assert (body["requests"], body["bytes"], body["malformed"]) == (1, 200, 2)


@pytest.mark.parametrize("engine", ["auto", "columnar", "python"])
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=mixed_chunk())
def test_mixed_chunks_through_logctl_ingest(engine: str, chunk: tuple[bytes, int],
                                            runner) -> None:
    data, hostile = chunk
    body = ingest_and_total(data, engine, runner)
    assert {key: body[key] for key in TRUTH} == TRUTH
    assert body["malformed"] == hostile


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("hostile")) as running:
        yield running


SENT: list[int] = []  # chunks posted so far: each gets a source of its own


@pytest.mark.parametrize("engine", ["auto", "columnar", "python"])
@settings(max_examples=10, deadline=None)
@given(chunk=mixed_chunk())
def test_mixed_chunks_through_the_processing_endpoint(cluster: Cluster, engine: str,
                                                      chunk: tuple[bytes, int]) -> None:
    data, hostile = chunk
    SENT.append(len(SENT))
    params = {"source": f"hostile-{len(SENT)}", "source_id": f"id-{len(SENT)}", "start": 0,
              "end": len(data), "format": "combined", "engine": engine}
    response = httpx.post(cluster.processing_urls[0] + "/v1/chunks", params=params,
                          content=data, timeout=60,
                          headers={"content-type": "application/octet-stream", **cluster.auth})
    assert response.status_code == 200, response.text
    ack = response.json()
    assert (ack["lines"], ack["requests"], ack["malformed"]) == (3 + hostile, 3, hostile)
    stored = httpx.get(cluster.urls["analytics"] + "/v1/metrics/summary", headers=cluster.auth,
                       params={"source": params["source"]}, timeout=30).json()
    assert {key: stored[key] for key in TRUTH} == TRUTH
    assert stored["malformed"] == hostile
