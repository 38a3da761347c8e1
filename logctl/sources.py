"""Where logs come from: expanding the user's paths (files, globs, directories, '-'),
naming sources, and opening plain, gzip or zstandard streams by their magic bytes."""

import glob
import gzip
import io
import os
import re
import select
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import zstandard

from logctl.errors import InputError, ParseError
from logctl.formats import FormatOptions
from logctl.formats.detect import detect_format
from logctl.formats.lines import MAX_LINE

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# How much of a file's start decides whether it is binary: room for a few of the longest
# lines a format reads, so a log that opens with long junk lines (one holding a NUL) before
# its first request is still read as a log (8 KiB held none of them).
BINARY_SAMPLE = 4 * MAX_LINE
# The files a watched directory gives: logs, plain or compressed.
DEFAULT_GLOBS = ("*.log", "*.log.gz", "*.log.zst")
_ROTATION = re.compile(r"(\.\d+)?(\.gz|\.zst)?$")


@dataclass(frozen=True)
class SourceFile:
    """One input: a file path, or stdin when `path` is None. `name` is the series source."""

    path: Path | None
    name: str

    @property
    def label(self) -> str:
        """How to show the input to a user."""
        return str(self.path) if self.path else "<stdin>"


def source_name(path: Path) -> str:
    """'access.log.2.gz' -> 'access.log': rotated and compressed files share a source."""
    return _ROTATION.sub("", path.name) or path.name


def expand_paths(args: list[str], name: str | None = None) -> tuple[list[SourceFile], list[str]]:
    """Resolve CLI arguments to inputs, plus warnings for what was skipped.

    Directories are walked (hidden files skipped), globs expanded, binary files refused.
    Raises InputError for a missing path or when nothing readable remains.
    """
    sources: list[SourceFile] = []
    warnings: list[str] = []
    for arg in args:
        if arg == "-":
            sources.append(SourceFile(None, name or "stdin"))
            continue
        for path in _expand(arg):
            if is_binary(path):
                if Path(arg).is_dir() or glob.has_magic(arg):
                    warnings.append(f"skipped {path}: binary file, not a log")
                    continue
                raise InputError(f"{path} is a binary file, not a log")
            sources.append(SourceFile(path, name or source_name(path)))
    if not sources:
        raise InputError(f"no log files found in {', '.join(args)}")
    return sources, warnings


def _expand(arg: str) -> list[Path]:
    path = Path(arg).expanduser()
    if glob.has_magic(arg):
        found = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        if not found:
            raise InputError(f"no file matches {arg}")
        return found
    if path.is_dir():
        return sorted(
            p for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
    if not path.exists():
        raise InputError(f"no such file: {arg}")
    if not path.is_file():
        raise InputError(f"not a regular file: {arg}")
    if not os.access(path, os.R_OK):
        raise InputError(f"permission denied: {arg}")
    return [path]


def is_binary(path: Path) -> bool:
    """True for a file whose (decompressed) start holds NUL bytes and no line any known
    format reads: a log with a run of NULs (left by a crash, or by hostile input) is still
    a log, its NUL lines malformed."""
    try:
        with open_stream(path) as stream:
            sample = stream.read(BINARY_SAMPLE)
    except (OSError, EOFError, zstandard.ZstdError):
        return True
    if b"\0" not in sample:
        return False
    try:
        detect_format(sample, FormatOptions())
    except ParseError:
        return True
    return False


def open_stream(path: Path) -> BinaryIO:
    """Open a file for reading its log text, decompressing gzip or zstandard."""
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    magic = raw.read(4)
    raw.seek(0)
    if magic.startswith(GZIP_MAGIC):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if magic.startswith(ZSTD_MAGIC):
        reader = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
        return io.BufferedReader(reader)  # type: ignore[arg-type]
    return raw


def is_compressed(path: Path) -> bool:
    """True for a gzip or zstandard file (offsets then count decompressed bytes)."""
    with open(path, "rb") as raw:
        magic = raw.read(4)
    return magic.startswith(GZIP_MAGIC) or magic.startswith(ZSTD_MAGIC)


class WakefulReader:
    """Standard input that notices signals while it waits. A read blocked on a pipe was
    seen to miss SIGTERM (the handler ran only on a second signal), so a reader waits for
    data in short selects: between them Python runs any pending signal handler."""

    def __init__(self, fd: int, wait_s: float = 0.5) -> None:
        self.fd = fd
        self.wait_s = wait_s

    def read(self, size: int = -1) -> bytes:
        """What is available, up to `size` bytes (b"" at the end of input)."""
        while not select.select([self.fd], [], [], self.wait_s)[0]:
            pass
        return os.read(self.fd, size if size > 0 else STDIN_READ)

    def close(self) -> None:
        """Standard input stays open: it is not ours to close."""


STDIN_READ = 1 << 20


def stdin_stream() -> BinaryIO:
    """Standard input as bytes (a file descriptor read wakefully; an in-memory stdin, as
    under a test runner, as it is)."""
    try:
        return WakefulReader(sys.stdin.fileno())  # type: ignore[return-value]
    except (AttributeError, OSError, io.UnsupportedOperation):
        return sys.stdin.buffer
