"""The ingest daemon's uploads over REST: a long poll of an upload answers once it is
done, and answers at once without `wait`."""

import threading
from pathlib import Path

from fastapi.testclient import TestClient

from logctl.auth import TokenBook
from logctl.checkpoint import CheckpointBook
from logctl.services.ingest import IngestReport
from logctl.services.intake import Intake
from logctl.transport.rest.ingest import MAX_WAIT_S, ingest_app


class Gated:
    """An ingest that finishes once `go` is set."""

    def __init__(self, go: threading.Event) -> None:
        self.go = go

    def ingest(self, sources: list) -> IngestReport:
        assert self.go.wait(30)
        return IngestReport()


def test_a_long_poll_answers_when_the_upload_is_done(tmp_path: Path) -> None:
    go = threading.Event()
    intake = Intake(lambda fmt: Gated(go), CheckpointBook(tmp_path / "c.db"))
    tokens = TokenBook(tmp_path)
    client = TestClient(ingest_app(intake, tmp_path / "uploads", tokens),
                        headers={"authorization": f"Bearer {tokens.create('ingest')}"})
    try:
        upload = client.post("/v1/uploads", params={"name": "a.log"}, content=b"x\n",
                             headers={"content-type": "application/octet-stream"}).json()
        where = f"/v1/uploads/{upload['id']}"
        assert client.get(where).json()["status"] in ("queued", "running")  # at once
        threading.Timer(0.2, go.set).start()
        done = client.get(where, params={"wait": MAX_WAIT_S}).json()
        assert done["status"] == "done" and go.is_set()
        assert done["report"]["lines"] == 0
        refused = client.get(where, params={"wait": MAX_WAIT_S + 1})
        assert refused.status_code == 422
        assert "wait" in refused.json()["error"]["message"]
    finally:
        go.set()
        intake.close()
