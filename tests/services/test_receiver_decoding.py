"""The receivers' decoding on its own: bodies compressed in several members or cut short,
TCP syslog framing at its edges, labels and JSON that are not what they claim."""

import asyncio
import gzip

import pytest
import zstandard

from logctl.errors import InputError
from logctl.services.receivers import TooLarge, decompress, events, stream_labels
from logctl.transport.syslog import frames


def test_every_member_and_frame_is_read_and_a_cut_body_refused() -> None:
    assert decompress(gzip.compress(b"one\n") + gzip.compress(b"two\n"), "gzip", 100) == \
        b"one\ntwo\n"
    zstd = zstandard.ZstdCompressor()
    assert decompress(zstd.compress(b"a\n") + zstd.compress(b"b\n"), "zstd", 100) == b"a\nb\n"
    text = b"".join(b"line %d of many\n" % i for i in range(2000))
    for body, encoding in ((gzip.compress(text)[:-20], "gzip"),
                           (zstd.compress(text)[:-20], "zstd")):
        with pytest.raises(InputError, match="cut short"):
            decompress(body, encoding, 100_000)
    with pytest.raises(TooLarge):
        decompress(zstd.compress(b"z" * 100_000), "zstd", 1000)
    with pytest.raises(TooLarge):
        decompress(gzip.compress(b"z" * 100_000), "gzip", 1000)


def read_frames(data: bytes) -> list[bytes]:
    async def run() -> list[bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return [frame async for frame in frames(reader)]
    return asyncio.run(run())


def test_framing_takes_trailing_newlines_and_an_unterminated_last_line() -> None:
    assert read_frames(b"5 <1>ab\n5 <1>cd\n") == [b"<1>ab", b"<1>cd"]
    assert read_frames(b"<1>one\n<1>two") == [b"<1>one\n", b"<1>two"]
    assert read_frames(b"\r\n\n") == []
    with pytest.raises(ValueError, match="bad octet count"):
        read_frames(b"999999999 <1>x")


def test_bad_labels_and_bad_json_are_input_errors() -> None:
    assert stream_labels('{job="web", host="h1"}') == {"job": "web", "host": "h1"}
    for text in ("1", '{a="b"} + 1', "{"):
        with pytest.raises(InputError, match="bad stream labels"):
            stream_labels(text)
    with pytest.raises(InputError, match="not JSON"):
        events(b'{"a": 1', "application/json", "s")
