"""Hostile bytes at the edges: chunking any stream keeps every byte range exact and
memory bounded, damaged gzip/zstd streams end in an InputError after what could be read,
and deep JSON, NULs and invalid UTF-8 never raise out of a parser."""

import gzip
import io
import tracemalloc

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from logctl.chunks import read_chunks
from logctl.errors import InputError
from logctl.formats import FormatOptions, make_format
from logctl.formats.lines import MAX_LINE
from logctl.metrics.points import aggregate_lines
from logctl.sources import open_stream

FORMATS = ["combined", "common", "jsonl", "logfmt", "syslog", r"regex:(?P<ts>\S+) (?P<status>\d+)"]
CLF = b'1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET /a HTTP/1.1" 200 1 "-" "ua" 0.1\n'


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=3000).map(lambda b: b.replace(b"\x00", b"\n")),
       size=st.integers(1, 700), start=st.integers(0, 50))
def test_chunks_cover_every_byte_once(data: bytes, size: int, start: int) -> None:
    chunks = list(read_chunks(io.BytesIO(data[start:]), start, size))
    ends = [start] + [c.end for c in chunks]
    assert [c.start for c in chunks] == ends[:-1]  # contiguous, nothing skipped or repeated
    assert ends[-1] == max(start, len(data)) if data[start:] else ends == [start]
    for chunk in chunks:
        assert chunk.data == data[chunk.start:chunk.end]  # short lines: nothing cut
        assert chunk.data.endswith(b"\n") or chunk.end == len(data)


def test_an_endless_line_is_cut_and_memory_stays_bounded() -> None:
    line = b"x" * (40 * 1024 * 1024)
    stream = io.BytesIO(CLF + line + b"\n" + CLF)
    tracemalloc.start()
    try:
        chunks = [(c.start, c.end, len(c.data)) for c in read_chunks(stream, 0, 1024 * 1024)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert chunks == [(0, len(CLF), len(CLF)),
                      (len(CLF), len(CLF) + len(line) + 1, MAX_LINE + 2),
                      (len(CLF) + len(line) + 1, 2 * len(CLF) + len(line) + 1, len(CLF))]
    assert peak < 8 * 1024 * 1024  # a few chunks' worth, not the 40 MB line


COMPRESSORS = {"gzip": gzip.compress, "zstd": zstandard.ZstdCompressor().compress}


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
@settings(max_examples=150, deadline=None)
@given(cut=st.floats(0.05, 0.95), noise=st.binary(max_size=64))
def test_damaged_compressed_streams_end_in_input_error(kind: str, cut: float, noise: bytes,
                                                       tmp_path_factory) -> None:
    original = CLF * 4000
    packed = COMPRESSORS[kind](original)
    damaged = packed[: int(len(packed) * cut)] + noise
    path = tmp_path_factory.mktemp("z") / f"log.{kind}"
    path.write_bytes(damaged)
    got = b""
    with open_stream(path) as stream:
        try:
            for chunk in read_chunks(stream, 0, 64 * 1024):
                got += chunk.data
        except InputError as exc:
            assert "truncated or corrupt" in str(exc)
    if not noise:  # cut short: what was read is exactly the start of the log
        assert original.startswith(got)


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("line", [
    b"[" * 50_000 + b"]" * 50_000,
    b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    b"\x00" * 5000,
    b"\xff\xfe\xfd" * 1000,
    CLF[:-1] + b"\xc3\x28",
    b'{"time":"2025-06-01T00:00:00Z","status":"\xff","path":"\x00"}',
], ids=["deep-list", "deep-object", "nuls", "bad-utf8", "clf-bad-utf8", "json-bad-values"])
def test_hostile_lines_never_raise(name: str, line: bytes) -> None:
    parse = make_format(name, FormatOptions(now=1764082045.0)).parse_line
    aggregate = aggregate_lines(line + b"\n" + CLF, parse)
    assert aggregate.lines == 2
    assert aggregate.requests + sum(aggregate.malformed.values()) == 2


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=4000).map(lambda b: b.replace(b"\x00", b"\n")),
       size=st.integers(1, 700), pick=st.integers(0, 1000))
def test_a_reread_from_any_chunk_end_cuts_the_same_chunks(data: bytes, size: int,
                                                          pick: int) -> None:
    """What makes a resumed ingest recognise the chunks a crash left stored: the cuts
    depend on the stream and the chunk size, not on where the read began."""
    chunks = [(c.start, c.end) for c in read_chunks(io.BytesIO(data), 0, size)]
    if not chunks:
        return
    resume = chunks[pick % len(chunks)][1]
    again = [(c.start, c.end) for c in read_chunks(io.BytesIO(data[resume:]), resume, size)]
    assert again == [c for c in chunks if c[0] >= resume]


def test_cuts_stay_on_multiples_when_a_file_grows_between_reads(tmp_path) -> None:
    """A short read at the end of a growing file must not shift later cuts: a re-read
    from any chunk end (a checkpoint) must cut the same chunks, with the same batch ids."""
    line = b"x" * 24 + b"\n"
    path = tmp_path / "growing.log"
    path.write_bytes(line * 6)  # 150 bytes: the second read of 100 comes back short
    with open(path, "rb") as stream:
        live = read_chunks(stream, 0, 100)
        cuts = [(c.start, c.end) for c in (next(live), next(live))]
        with open(path, "ab") as more:
            more.write(line * 40)
        cuts += [(c.start, c.end) for c in live]
    assert cuts[:2] == [(0, 100), (100, 150)]
    with open(path, "rb") as stream:
        stream.seek(150)
        again = [(c.start, c.end) for c in read_chunks(stream, 150, 100)]
    assert cuts[2:] == again
    assert all(end % 100 == 0 for _, end in again[:-1])
