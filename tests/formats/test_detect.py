"""Auto-detection picks the format that reads the sample."""

import pytest

from logctl.errors import ParseError
from logctl.formats import FormatOptions
from logctl.formats.detect import detect_format

OPTIONS = FormatOptions(now=1764082045.0)


@pytest.mark.parametrize(("sample", "name"), [
    (b'1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1 "-" "ua"\n', "combined"),
    (b'1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1\n', "common"),
    (b'{"time":"2025-11-25T14:00:00Z","status":200}\n', "jsonl"),
    (b"time=2025-11-25T14:00:00Z status=200 path=/\n", "logfmt"),
    (b"<34>Nov 25 09:00:02 web01 su[211]: failed\n", "syslog"),
])
def test_detects(sample: bytes, name: str) -> None:
    assert detect_format(sample * 3, OPTIONS).name == name


def test_unknown_content_is_a_clear_error() -> None:
    with pytest.raises(ParseError, match="--format"):
        detect_format(b"hello world\nthis is prose\n", OPTIONS)
