"""Intake: what the ingest daemon does besides reading files. It keeps the watched roots
and the uploads, and runs their ingest jobs one at a time on its own thread, so a file is
never read by two jobs at once and checkpoints move in order.

Changes come from watchfiles: a new or grown file under a root whose name matches the
root's globs is ingested; a file renamed away by rotation (access.log -> access.log.1)
is still finished, because its checkpoint follows its inode; a truncated file starts
over (the checkpoint is past its end)."""

import asyncio
import fnmatch
import hashlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import watchfiles

from logctl.checkpoint import Checkpoint, CheckpointBook
from logctl.errors import Forbidden, InputError, LogctlError, PeerError
from logctl.services.ingest import IngestReport, IngestService
from logctl.sources import DEFAULT_GLOBS, SourceFile, is_binary, source_name

log = logging.getLogger("logctl.ingest")
RETRY_S = 2.0


@dataclass(frozen=True)
class Root:
    """A watched directory (or one file) and the file-name globs taken from it."""

    path: Path
    globs: tuple[str, ...] = DEFAULT_GLOBS

    def takes(self, path: Path) -> bool:
        """True for a visible file under this root whose name matches a glob, and which
        really lives under it (a symlink pointing out of the root is not followed)."""
        if self.path.is_file() or not self.path.exists():
            return path == self.path
        try:
            parts = path.relative_to(self.path).parts
        except ValueError:
            return False
        return not any(p.startswith(".") for p in parts) and any(
            fnmatch.fnmatch(path.name, g) for g in self.globs) and inside(path, self.path)

    def files(self) -> list[Path]:
        """The files this root holds now."""
        if self.path.is_file():
            return [self.path]
        return sorted(p for p in self.path.rglob("*") if p.is_file() and self.takes(p))

    @property
    def watch_dir(self) -> Path:
        return self.path.parent if self.path.is_file() else self.path


@dataclass
class Upload:
    """A file sent to the daemon: stored under its digest, then ingested as a job."""

    id: str
    name: str
    path: Path
    size: int
    format: str | None
    status: str = "queued"
    report: dict[str, Any] | None = None
    error: str | None = None
    error_kind: str | None = None
    created: float = field(default_factory=time.time)
    # Set once the upload is done or failed, for those who wait on it (a long poll).
    settled: threading.Event = field(default_factory=threading.Event, repr=False,
                                     compare=False)

    def settle(self, status: str) -> None:
        """End the upload as done or failed (its report or error set), durably, and wake
        whoever waits on it."""
        self.status = status
        write_manifest(self)
        self.settled.set()


IngestFor = Callable[[str | None], IngestService]


class Intake:
    """Roots, uploads and the one thread that ingests for them."""

    def __init__(self, ingest_for: IngestFor, checkpoints: CheckpointBook,
                 stop: threading.Event | None = None) -> None:
        self.ingest_for = ingest_for
        self.checkpoints = checkpoints
        self.stop = stop or threading.Event()
        self.roots: dict[Path, Root] = {}
        self.uploads: dict[str, Upload] = {}
        self.lines = 0
        self.requests = 0
        self.last_error: str | None = None
        self.roots_changed = asyncio.Event()
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._waiting: set[Path] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="ingest-jobs", daemon=True)
        self._thread.start()

    @property
    def queue_depth(self) -> int:
        return self._jobs.qsize()

    def add_root(self, path: Path, globs: Iterable[str] = DEFAULT_GLOBS,
                 allowed: Iterable[Path] | None = None) -> Root:
        """Watch a directory or file from now on; what it holds now is ingested at once.
        With `allowed` (a request from the network), the path, symlinks resolved, must
        lie in one of those roots: nothing outside them is looked at, let alone read."""
        if allowed is not None:
            path = confine(path, list(allowed))
        path = path.expanduser().resolve()
        if not path.exists():
            raise InputError(f"no such file or directory: {path}")
        root = Root(path, tuple(globs) or DEFAULT_GLOBS)
        self.roots[path] = root
        self.roots_changed.set()
        self.submit_paths(root.files())
        return root

    def submit_paths(self, paths: Iterable[Path]) -> None:
        """Queue files for ingest; a file already waiting is not queued twice."""
        with self._lock:
            fresh = [p for p in paths if p not in self._waiting]
            self._waiting.update(fresh)
        if fresh:
            self._jobs.put(lambda: self._ingest_paths(fresh))

    def submit_upload(self, upload: Upload) -> None:
        self.uploads[upload.id] = upload
        self._jobs.put(lambda: self._ingest_upload(upload))

    def accept_upload(self, received: Path, digest: str, name: str,
                      fmt: str | None) -> Upload:
        """Keep a file received whole (its sha256 `digest`) beside it under its upload id,
        write its manifest (so it resumes after a restart) and queue it for ingest."""
        name = Path(name).name or "upload"
        stored = received.with_name(upload_id(digest, name))
        received.replace(stored)
        upload = Upload(stored.name, name, stored, stored.stat().st_size, fmt)
        write_manifest(upload)
        self.submit_upload(upload)
        return upload

    def changed(self, changes: Iterable[tuple[watchfiles.Change, str]]) -> list[Path]:
        """The files a batch of filesystem changes asks to read: matching files, and
        files renamed away from a checkpoint (rotation), oldest first."""
        picked = set()
        for change, raw in changes:
            path = Path(raw)
            if change == watchfiles.Change.deleted or not path.is_file():
                continue
            if any(root.takes(path) for root in self.roots.values()) or self._known(path):
                picked.add(path)
        return sorted(picked, key=_mtime)

    def _known(self, path: Path) -> bool:
        try:
            return self.checkpoints.find(path) is not None
        except OSError:
            return False

    def _ingest_paths(self, paths: list[Path]) -> None:
        with self._lock:
            self._waiting.difference_update(paths)
        sources = [SourceFile(p, source_name(p)) for p in paths
                   if p.is_file() and not is_binary(p)]
        if not sources:
            return
        try:
            self._count(self.ingest_for(None).ingest(sources))
        except LogctlError as exc:
            self._failed(exc)
            self._later(lambda: self.submit_paths(paths))

    def _ingest_upload(self, upload: Upload) -> None:
        upload.status = "running"
        try:
            report = self.ingest_for(upload.format).ingest(
                [SourceFile(upload.path, source_name(Path(upload.name)))])
        except LogctlError as exc:
            self._failed(exc)
            if isinstance(exc, PeerError) and exc.retryable:
                upload.status, upload.error = "queued", str(exc)  # a peer is down: try again
                self._later(lambda: self.submit_upload(upload))
                return
            upload.error, upload.error_kind = str(exc), type(exc).__name__
            upload.settle("failed")
            return
        self._count(report)
        if self.stop.is_set():
            return  # cut short by a drain: resumed at the next start
        upload.report = report.as_json()
        upload.settle("done")

    def resume_uploads(self, uploads_dir: Path) -> int:
        """Queue again every upload a previous run accepted but did not finish (its
        checkpoint says where to go on); returns how many."""
        resumed = 0
        for manifest in sorted(uploads_dir.glob("*.json")):
            upload = read_manifest(manifest)
            if upload is not None and upload.status in ("queued", "running"):
                self.submit_upload(upload)
                resumed += 1
        return resumed

    def _count(self, report: IngestReport) -> None:
        self.lines += report.lines
        self.requests += report.requests
        for warning in report.warnings:
            log.warning(warning)

    def _failed(self, exc: LogctlError) -> None:
        self.last_error = str(exc)
        log.error("ingest failed: %s", exc)

    def _later(self, job: Callable[[], None]) -> None:
        """Run `job` after RETRY_S: nothing moved past what storage acknowledged, so
        reading again is safe."""
        timer = threading.Timer(RETRY_S, job)
        timer.daemon = True
        timer.start()

    def _work(self) -> None:
        """Run jobs in order; a job that fails unexpectedly is logged, and the next runs
        (one bad file or upload must not stop the daemon ingesting)."""
        while (job := self._jobs.get()) is not None and not self.stop.is_set():
            try:
                job()
            except Exception:
                log.exception("ingest job failed")

    def sources(self) -> list[dict[str, Any]]:
        """Every root with the progress of each of its files."""
        return [{"path": str(root.path), "globs": list(root.globs),
                 "files": [self._progress(p) for p in root.files()]}
                for root in self.roots.values()]

    def _progress(self, path: Path) -> dict[str, Any]:
        stat = path.stat()
        checkpoint = self.checkpoints.find(path)
        offset = checkpoint.offset if checkpoint else 0
        lag_bytes = max(stat.st_size - offset, 0)
        now = time.time()
        return {"path": str(path), "source": source_name(path), "size": stat.st_size,
                "offset": offset, "lag_bytes": lag_bytes,
                "lag_s": lag_seconds(lag_bytes, stat.st_mtime, checkpoint, now),
                "checkpoint_age_s": round(now - checkpoint.updated_at, 3)
                if checkpoint else None}

    def lag(self) -> dict[str, Any]:
        """Per-source lag for the health page: every watched file's unread bytes and
        seconds, and the worst of them."""
        files = [self._progress(p) for root in list(self.roots.values()) for p in root.files()]
        return {"lag_bytes": sum(f["lag_bytes"] for f in files),
                "lag_s": max((f["lag_s"] for f in files), default=0.0),
                "checkpoint_age_s": max((f["checkpoint_age_s"] or 0.0 for f in files),
                                        default=0.0),
                "source_lag": [{k: f[k] for k in ("source", "path", "lag_bytes", "lag_s",
                                                  "checkpoint_age_s")} for f in files]}

    async def watch(self, stop: asyncio.Event, debounce_ms: int = 300) -> None:
        """Follow the roots' directories until `stop` is set, restarting the watch when
        roots are added."""
        while not stop.is_set():
            self.roots_changed.clear()
            dirs = sorted({str(root.watch_dir) for root in self.roots.values()})
            if not dirs:
                await _first(stop, self.roots_changed)
                continue
            halt = asyncio.Event()
            relay = asyncio.create_task(_relay(halt, stop, self.roots_changed))
            async for changes in watchfiles.awatch(*dirs, stop_event=halt,
                                                   debounce=debounce_ms, step=50):
                self.submit_paths(self.changed(changes))
            relay.cancel()

    def follow(self, stop: threading.Event, tick: Callable[[], None],
               every: float = 0.5) -> None:
        """Watch the roots until `stop` is set (from another thread), calling `tick` every
        `every` seconds."""
        asyncio.run(self._follow(stop, tick, every))

    async def _follow(self, stop: threading.Event, tick: Callable[[], None],
                      every: float) -> None:
        halt = asyncio.Event()
        watching = asyncio.create_task(self.watch(halt))
        while not stop.is_set():
            tick()
            await asyncio.sleep(every)
        halt.set()
        await watching

    def close(self) -> None:
        """Drain: the running job sends no new chunk, its in-flight ones are acknowledged
        and checkpointed; queued jobs are dropped (roots are scanned again and unfinished
        uploads resumed at the next start)."""
        self.stop.set()
        self._jobs.put(None)
        self._thread.join()


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.create_task(e.wait()) for e in events]
    _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


async def _relay(halt: asyncio.Event, *events: asyncio.Event) -> None:
    await _first(*events)
    halt.set()


def inside(path: Path, root: Path) -> bool:
    """True when `path`, every symlink resolved, is `root` or below it."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except OSError:
        return False


def confine(path: Path, roots: list[Path]) -> Path:
    """`path` if it is absolute and, symlinks resolved, inside an allowed root; else
    Forbidden, with the same answer whether or not the path exists."""
    if not roots:
        raise Forbidden("adding sources over the network is off: no allowed_roots are "
                        "configured")
    if not path.is_absolute() or ".." in path.parts:
        raise Forbidden(f"{path} is not an absolute path inside the allowed roots")
    if not any(inside(path, root) for root in roots):
        raise Forbidden(f"{path} is outside the allowed roots")
    return path


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def lag_seconds(lag_bytes: int, mtime: float, checkpoint: Checkpoint | None,
                now: float) -> float:
    """How long unread bytes have waited: since the checkpoint last moved (everything
    before it was read then), or since the file was written when it never was; 0 when
    nothing is unread."""
    if not lag_bytes:
        return 0.0
    since = checkpoint.updated_at if checkpoint else mtime
    return round(max(now - since, 0.0), 3)


def manifest_path(upload: Upload) -> Path:
    return upload.path.with_name(upload.path.name + ".json")


def write_manifest(upload: Upload) -> None:
    """Record an upload beside its file, durably: the daemon answered 202 for it, so a
    restart must finish it."""
    data = {"id": upload.id, "name": upload.name, "size": upload.size,
            "format": upload.format, "status": upload.status, "error": upload.error}
    partial = manifest_path(upload).with_suffix(".partial")
    with open(partial, "w") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(manifest_path(upload))


def upload_id(digest: str, name: str) -> str:
    """Where an upload is kept, and its id: named by its content and its source name, so
    sending the same file again under the same name is recognised (its checkpoint is at
    the end) and a client can follow its upload across a daemon restart."""
    return f"{digest}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"


def read_manifest(path: Path) -> Upload | None:
    """The upload a manifest describes, or None when it is unreadable or its file is gone."""
    try:
        data = json.loads(path.read_text())
        upload = Upload(data["id"], data["name"], path.with_suffix(""), data["size"],
                        data["format"], data["status"], error=data["error"])
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("ignoring unreadable upload manifest %s", path)
        return None
    return upload if upload.path.is_file() else None
