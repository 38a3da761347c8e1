"""Ingest over REST: uploads (`POST /v1/uploads`, streamed to disk, then ingested),
watched sources (`POST/GET /v1/sources`), and the client `logctl ingest --remote` uses."""

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import FastAPI, Request
from fastapi import Query as Param
from pydantic import BaseModel, ConfigDict, Field

from logctl.auth import TokenBook
from logctl.errors import ParseError, PeerError
from logctl.formats import FormatOptions, make_format
from logctl.services.ingest import IngestReport
from logctl.services.intake import Intake, Upload, read_manifest
from logctl.services.receivers import OtlpMapping, Receiver
from logctl.sources import SourceFile, stdin_stream
from logctl.transport.rest.app import create_app
from logctl.transport.rest.client import RestClient
from logctl.transport.rest.common import (
    MAX_BODY,
    ApiError,
    needs,
    require_content_type,
    stream_to_file,
)
from logctl.transport.rest.receive import receiver_router

MAX_UPLOAD = 10 * 1024**3
UPLOAD_TYPES = ("application/octet-stream", "text/plain", "application/gzip",
                "application/zstd", "application/x-ndjson")
PIECE = 1024 * 1024
MAX_WAIT_S = 30.0  # the longest a GET of an upload may wait for it to settle
LONG_POLL_S = 10.0  # what the client asks each time: well inside its request timeout
SETTLED_POLL_S = 0.02  # how often a long poll looks at its upload
UPLOAD_ID = re.compile(r"[0-9a-f]{64}-[0-9a-f]{12}")


class SourceIn(BaseModel):
    """A path to watch: a directory (walked, filtered by globs) or one file."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1, max_length=4096)
    globs: list[str] = Field(default_factory=list, max_length=32)


def upload_json(upload: Upload) -> dict[str, Any]:
    return {"id": upload.id, "name": upload.name, "size": upload.size,
            "status": upload.status, "report": upload.report, "error": upload.error,
            "error_kind": upload.error_kind}


def ingest_app(intake: Intake, uploads_dir: Path, tokens: TokenBook,
               max_upload: int = MAX_UPLOAD, allowed_roots: tuple[str, ...] = (),
               receiver: Receiver | None = None, mapping: OtlpMapping = OtlpMapping(),
               max_body: int = MAX_BODY) -> FastAPI:
    """The ingest REST app over an intake (roots, uploads, the ingest thread), and with a
    receiver the push endpoints shippers send to. Sending logs needs `ingest`; choosing
    what the daemon reads from its disk needs `admin`."""
    app = create_app("ingest", tokens, lambda: {
        "queue_depth": intake.queue_depth, "sources": len(intake.roots),
        "lines": intake.lines, "requests": intake.requests, "last_error": intake.last_error,
        **intake.lag(), **({"receivers": receiver.figures()} if receiver else {})},
        untimed=[("POST", "/v1/uploads")])
    if receiver is not None:
        app.include_router(receiver_router(receiver, mapping, max_body))

    @app.post("/v1/uploads", status_code=202, summary="Upload a log file to ingest",
              dependencies=needs("ingest"))
    async def post_upload(request: Request,
                          name: Annotated[str, Param(min_length=1, max_length=255)] = "upload",
                          format: Annotated[str | None, Param(max_length=4096)] = None
                          ) -> dict[str, Any]:
        require_content_type(request, *UPLOAD_TYPES)
        if format is not None:
            make_format(format, FormatOptions())
        uploads_dir.mkdir(parents=True, exist_ok=True)
        partial = uploads_dir / f".partial-{uuid.uuid4().hex}"
        size, digest = await stream_to_file(request, partial, max_upload)
        if size == 0:
            partial.unlink()
            raise ApiError(400, "empty upload")
        return upload_json(intake.accept_upload(partial, digest, name, format))

    @app.get("/v1/uploads/{upload_id}", summary="An upload's state and ingest report",
             dependencies=needs("ingest"))
    async def get_upload(upload_id: str, wait: Annotated[float, Param(
            ge=0, le=MAX_WAIT_S, description="Seconds to wait for the upload to be done or "
            "failed before answering (a long poll); 0 answers at once")] = 0) -> dict[str, Any]:
        upload = intake.uploads.get(upload_id)
        if upload is not None and wait:
            await settled(upload, wait)
        if upload is None and UPLOAD_ID.fullmatch(upload_id):
            upload = read_manifest(uploads_dir / f"{upload_id}.json")  # from an earlier run
        if upload is None:
            raise ApiError(404, f"no upload {upload_id!r}")
        return upload_json(upload)

    @app.get("/v1/uploads", summary="Every upload since the daemon started",
             dependencies=needs("ingest"))
    def list_uploads() -> dict[str, Any]:
        return {"uploads": [upload_json(u) for u in intake.uploads.values()]}

    @app.post("/v1/sources", status_code=201, summary="Watch a directory or file",
              dependencies=needs("admin"))
    def post_source(source: SourceIn) -> dict[str, Any]:
        root = intake.add_root(Path(source.path), source.globs,
                               [Path(r).expanduser() for r in allowed_roots])
        return {"path": str(root.path), "globs": list(root.globs)}

    @app.get("/v1/sources", summary="Watched sources and each file's progress",
             dependencies=needs("read"))
    def get_sources() -> dict[str, Any]:
        return {"sources": intake.sources()}

    return app


async def settled(upload: Upload, seconds: float) -> None:
    """Wait up to `seconds` for an upload to be done or failed, on the event loop: a long
    poll holds no worker thread while it waits."""
    deadline = time.monotonic() + seconds
    while not upload.settled.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(SETTLED_POLL_S)


class RestIngestClient(RestClient):
    """Sends files to an ingest daemon and waits for their reports."""

    peer = "ingest"

    def upload(self, stream: BinaryIO, name: str, fmt: str | None,
               progress: Any = None) -> dict[str, Any]:
        """Stream a file to the daemon; returns the upload's record (status queued)."""
        params = {"name": name, **({"format": fmt} if fmt else {})}
        return self.request("POST", "/v1/uploads", retry=False, params=params,
                            content=_pieces(stream, progress),
                            headers={"content-type": "application/octet-stream"})

    def wait(self, upload_id: str, timeout: float = 3600.0) -> dict[str, Any]:
        """Wait for an upload to be ingested (or failed): long polls, each answered as soon
        as it is, so no poll interval is added to the ingest."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            upload = self.get(f"/v1/uploads/{upload_id}",
                              params={"wait": round(min(left, LONG_POLL_S), 3)})
            if upload["status"] in ("done", "failed"):
                return upload
        raise PeerError(f"ingest at {self.base_url}: upload {upload_id} not done after "
                        f"{timeout:.0f}s")

    def add_source(self, path: str, globs: list[str]) -> dict[str, Any]:
        return self.request("POST", "/v1/sources", json={"path": path, "globs": globs})

    def sources(self) -> dict[str, Any]:
        return self.get("/v1/sources")


def _pieces(stream: BinaryIO, progress: Any) -> Iterator[bytes]:
    while piece := stream.read(PIECE):
        if progress:
            progress(len(piece))
        yield piece


def upload_all(client: RestIngestClient, sources: list[SourceFile], fmt: str | None,
               progress: Any = None) -> IngestReport:
    """Upload every input, wait for each report, and total them like a local ingest."""
    started = time.monotonic()
    totals = IngestReport()
    queued = []
    for source in sources:
        with (open(source.path, "rb") if source.path else nullcontext(stdin_stream())) as f:
            queued.append(client.upload(f, source.name, fmt, progress))
    for upload in queued:
        done = client.wait(upload["id"])
        if done["status"] == "failed":
            if len(queued) > 1 and done["error_kind"] == "ParseError":
                totals.warnings.append(f"skipped {upload['name']}: {done['error']}")
                continue
            error = ParseError if done["error_kind"] == "ParseError" else PeerError
            raise error(f"ingest of {upload['name']} failed: {done['error']}")
        report = IngestReport.from_json(done["report"])
        totals.files += report.files
        totals.warnings += report.warnings
    totals.seconds = time.monotonic() - started
    return totals
