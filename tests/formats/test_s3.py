"""S3 server access logs on the example entry of AWS's documentation (tests/data/SOURCES.md)."""

import pytest

from logctl.formats import FormatOptions
from logctl.formats.detect import detect_format
from logctl.formats.s3 import S3Parser

parse = S3Parser()
DOC = (b"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 "
       b"[06/Feb/2019:00:00:38 +0000] 192.0.2.3 "
       b"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE "
       b'REST.GET.VERSIONING - "GET /awsexamplebucket1?versioning HTTP/1.1" 200 - 113 - 7 - '
       b'"-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP'
       b"/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader "
       b"awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.2")


def test_the_documented_entry() -> None:
    record = parse(DOC)
    assert record is not None
    assert (record.ts, record.method, record.path, record.status, record.bytes, record.rt_ms,
            record.host, record.client) == (1549411238.0, "GET",
                                            "/awsexamplebucket1?versioning", 200, 113, 7.0,
                                            "awsexamplebucket1", "192.0.2.3")


def test_dashes_mean_none() -> None:
    record = parse(DOC.replace(b" 200 - 113 - 7 - ", b" 404 NoSuchKey - - - - "))
    assert record is not None and (record.status, record.bytes, record.rt_ms) == (404, 0, None)


@pytest.mark.parametrize("line", [DOC[:60], DOC.replace(b"2019:", b"1969:"),
                                  DOC.replace(b" 113 ", b" " + b"9" * 16 + b" ")])
def test_malformed(line: bytes) -> None:
    assert parse(line) is None


def test_auto_detected() -> None:
    assert detect_format(DOC + b"\n", FormatOptions()).name == "s3"
