"""Chunk reading: cut at line boundaries, offsets exact, overlong lines bounded."""

import io
import threading
from collections.abc import Iterator

import pytest

from logctl.chunks import Chunk, read_ahead, read_chunks, skip_to
from logctl.errors import InputError
from logctl.formats.lines import MAX_LINE


def test_chunks_cover_the_stream_exactly_at_line_boundaries() -> None:
    data = b"".join(b"line %d\n" % i for i in range(1000)) + b"tail"
    chunks = list(read_chunks(io.BytesIO(data), chunk_size=100))
    assert b"".join(c.data for c in chunks) == data
    assert all(c.data.endswith(b"\n") for c in chunks[:-1])
    assert [c.start for c in chunks[1:]] == [c.end for c in chunks[:-1]]
    assert chunks[-1].end == len(data)


def test_unterminated_tail_is_held_back_when_not_final() -> None:
    chunks = list(read_chunks(io.BytesIO(b"a\nb\npartial"), chunk_size=4, final=False))
    assert b"".join(c.data for c in chunks) == b"a\nb\n" and chunks[-1].end == 4


def test_overlong_line_is_cut_but_its_bytes_are_accounted() -> None:
    long = b"x" * (3 * MAX_LINE)
    data = b"first\n" + long + b"\nlast\n"
    chunks = list(read_chunks(io.BytesIO(data), chunk_size=1000))
    assert chunks[-1].end == len(data)
    assert max(len(c.data) for c in chunks) <= MAX_LINE + 2
    joined = b"".join(c.data for c in chunks)
    assert joined.startswith(b"first\n") and joined.endswith(b"\nlast\n")


def test_skip_to_on_unseekable_stream() -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # type: ignore[override]
            chunk = self.inner.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    stream = io.BufferedReader(Pipe(b"0123456789"))
    skip_to(stream, 4)
    assert stream.read() == b"456789"


def test_read_ahead_gives_every_chunk_then_the_read_error_in_its_place() -> None:
    def chunks() -> Iterator[Chunk]:
        yield Chunk(0, 2, b"a\n")
        yield Chunk(2, 4, b"b\n")
        raise InputError("unreadable after 4 bytes")

    seen = []
    with read_ahead(chunks(), depth=1) as ahead, pytest.raises(InputError, match="after 4"):
        seen.extend(chunk.data for chunk in ahead)
    assert seen == [b"a\n", b"b\n"]


def test_leaving_read_ahead_early_stops_the_reader() -> None:
    read = []

    def chunks() -> Iterator[Chunk]:
        for i in range(1000):
            read.append(i)
            yield Chunk(i, i + 1, b"x")

    with read_ahead(chunks(), depth=2) as ahead:
        assert next(ahead).start == 0
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]
    assert len(read) <= 4  # the one taken, two queued, one waiting to be queued
