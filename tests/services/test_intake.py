"""The ingest daemon's job thread outlives a failed job: a peer refusing an upload fails
that upload only, and the next one is still ingested."""

import time
from pathlib import Path

from logctl.checkpoint import CheckpointBook
from logctl.errors import PeerError
from logctl.services.ingest import IngestReport
from logctl.services.intake import Intake, Upload


class Refusing:
    """An ingest whose processing answers 500 (not retryable)."""

    def ingest(self, sources: list) -> IngestReport:
        raise PeerError("processing failed (500): boom", retryable=False)


class Working:
    def ingest(self, sources: list) -> IngestReport:
        return IngestReport()


def test_a_refused_upload_fails_alone(tmp_path: Path) -> None:
    services = iter([Refusing(), Working()])
    intake = Intake(lambda fmt: next(services), CheckpointBook(tmp_path / "c.db"))
    uploads = []
    for name in ("first", "second"):
        path = tmp_path / name
        path.write_bytes(b"x\n")
        uploads.append(Upload(name, f"{name}.log", path, 2, None))
        intake.submit_upload(uploads[-1])
    deadline = time.monotonic() + 10
    while uploads[1].status != "done" and time.monotonic() < deadline:
        time.sleep(0.02)
    intake.close()
    assert [(u.status, u.error_kind) for u in uploads] == [("failed", "PeerError"),
                                                          ("done", None)]
    assert uploads[0].error == "processing failed (500): boom"
