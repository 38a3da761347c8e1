"""Reading a stream in chunks cut at line boundaries: memory stays flat whatever the file
size, and every chunk knows the byte range it came from (for batch ids and checkpoints).

A chunk ends after the last line end before a multiple of the chunk size, counted from
the stream's start (not from where this read began): a re-read from any chunk's end cuts
the same chunks again, so they get the same batch ids and a chunk already stored is
recognised, whichever of several in-flight chunks a crash left unstored."""

import io
import queue
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import zstandard

from logctl.errors import InputError
from logctl.formats.lines import MAX_LINE

CHUNK_SIZE = 4 * 1024 * 1024


@dataclass(frozen=True)
class Chunk:
    """Whole lines from [start, end) of a stream. A line longer than a chunk is cut to
    MAX_LINE + 1 bytes, so `data` may be shorter than end - start (it is then malformed)."""

    start: int
    end: int
    data: bytes


def skip_to(stream: BinaryIO, offset: int) -> None:
    """Position a stream at `offset`: seek when it can, read and drop when compressed."""
    if offset == 0:
        return
    try:
        stream.seek(offset)
        return
    except (OSError, ValueError):
        pass
    left = offset
    while left:
        block = stream.read(min(left, CHUNK_SIZE))
        if not block:
            break
        left -= len(block)


PIECE = 256 * 1024


def _blocks(stream: BinaryIO, size: int, start: int) -> Iterator[bytes]:
    """Blocks that end on multiples of `size` from the stream's start (the stream is at
    `start`), even after a short read of a file still being written. A compressed stream
    is read in pieces, so that one cut short or corrupt gives up everything before the
    damage, then an InputError (never a traceback); a plain file is read a block at a
    time."""
    read = 0
    plain = isinstance(stream, io.BufferedReader) and isinstance(stream.raw, io.FileIO)
    while True:
        want = size - (start + read) % size
        pieces: list[bytes] = []
        got = 0
        piece_size = want if plain else min(PIECE, want)
        try:
            while got < want and (piece := stream.read(min(piece_size, want - got))):
                pieces.append(piece)
                got += len(piece)
        except (EOFError, OSError, zlib.error, zstandard.ZstdError) as exc:
            if pieces:
                yield b"".join(pieces)
            raise InputError(f"unreadable after {read + got:,} bytes "
                             f"(truncated or corrupt compressed data?): {exc}") from None
        if not pieces:
            return
        read += got
        yield pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _joined(carry: bytes, block: bytes, end: int) -> bytes:
    """carry + block[:end] with one copy at most (none for a block of whole lines)."""
    if not carry:
        return block if end == len(block) else block[:end]
    return b"".join((carry, memoryview(block)[:end]))


def read_chunks(
    stream: BinaryIO, start: int = 0, chunk_size: int = CHUNK_SIZE, final: bool = True
) -> Iterator[Chunk]:
    """Chunks of whole lines from `start`. With `final`, an unterminated last line is a
    line; without it (a file still being written) it is left for the next read."""
    offset = start  # stream offset of the first byte not yet yielded
    carry = b""
    overlong: tuple[bytes, int] | None = None  # head and length of a line being skipped
    for block in _blocks(stream, chunk_size, start):
        if overlong is not None:
            head, length = overlong
            cut = block.find(b"\n")
            if cut < 0:
                overlong = (head, length + len(block))
                continue
            length += cut + 1
            yield Chunk(offset, offset + length, head + b"\n")
            offset += length
            overlong, block = None, block[cut + 1:]
            if not block:
                continue
        cut = block.rfind(b"\n")
        if cut < 0:
            buffer = carry + block
            if len(buffer) > max(MAX_LINE, chunk_size):
                overlong, carry = (buffer[: MAX_LINE + 1], len(buffer)), b""
            else:
                carry = buffer
            continue
        data, carry = _joined(carry, block, cut + 1), block[cut + 1:]
        yield Chunk(offset, offset + len(data), data)
        offset += len(data)
    if final and overlong is not None:
        yield Chunk(offset, offset + overlong[1], overlong[0])
    elif final and carry:
        yield Chunk(offset, offset + len(carry), carry)


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_END = object()


@contextmanager
def read_ahead(chunks: Iterator[Chunk], depth: int = 2) -> Iterator[Iterator[Chunk]]:
    """Chunks read on a background thread, up to `depth` ahead of the consumer: reading
    and decompressing (both release the GIL) overlap parsing and storing the chunks
    before. A read error reaches the consumer in its place; leaving the block stops the
    reader and waits for it, so the stream can be closed after. For files only: a read
    from a pipe may block for good."""
    ahead: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def offer(item: object) -> None:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read() -> None:
        try:
            for chunk in chunks:
                offer(chunk)
                if stop.is_set():
                    return
            offer(_END)
        except Exception as exc:
            offer(_Failed(exc))

    def received() -> Iterator[Chunk]:
        while (item := ahead.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            yield item

    reader = threading.Thread(target=read, name="read-ahead", daemon=True)
    reader.start()
    try:
        yield received()
    finally:
        stop.set()
        reader.join()
