"""Chunk reading: cut at line boundaries, offsets exact, overlong lines bounded."""

import io

from logctl.chunks import read_chunks, skip_to
from logctl.metrics.points import MAX_LINE


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
