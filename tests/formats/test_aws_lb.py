"""AWS load balancer access logs on the example entries of AWS's documentation (see
tests/data/SOURCES.md), edge values, and auto-detection."""

import pytest

from logctl.formats import FormatOptions
from logctl.formats.aws_lb import AwsLbParser
from logctl.formats.detect import detect_format

parse = AwsLbParser()
ALB = (b'http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 '
       b'192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 '
       b'"GET http://www.example.com:80/ HTTP/1.1" "curl/7.46.0" - - '
       b'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/'
       b'73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 '
       b'2018-07-02T22:22:48.364000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-"')
ELB = (b'2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 '
       b'0.000073 0.001048 0.000057 200 200 0 29 "GET http://www.example.com:80/ HTTP/1.1" '
       b'"curl/7.38.0" - -')


def test_the_documented_alb_entry() -> None:
    record = parse(ALB)
    assert record is not None
    assert (record.ts, record.method, record.path, record.status, record.bytes,
            record.host, record.client) == (1530570180.186641, "GET", "/", 200, 366,
                                            "www.example.com:80", "192.168.131.39")
    assert record.rt_ms == pytest.approx(1.0)  # 0.000 + 0.001 + 0.000 s


def test_the_documented_classic_elb_entry() -> None:
    record = parse(ELB)
    assert record is not None
    assert (record.ts, record.path, record.status, record.bytes) == (
        1431560383.945958, "/", 200, 29)
    assert record.rt_ms == pytest.approx(1.178)  # 0.000073 + 0.001048 + 0.000057 s


def test_no_target_answer_has_no_latency() -> None:
    line = ELB.replace(b"10.0.0.1:80 0.000073 0.001048 0.000057 200 200 0 29",
                       b"- -1 -1 -1 504 - 0 0")
    record = parse(line)
    assert record is not None and (record.status, record.rt_ms) == (504, None)


@pytest.mark.parametrize("line", [ELB.replace(b" 29 ", b" " + b"9" * 16 + b" "),
                                  ELB[:-30], ELB.replace(b"2015-05-13T", b"1969-05-13T")])
def test_malformed(line: bytes) -> None:
    assert parse(line) is None


@pytest.mark.parametrize(("line", "name"), [(ALB, "aws_lb"), (ELB, "aws_lb")])
def test_auto_detected(line: bytes, name: str) -> None:
    assert detect_format(line + b"\n", FormatOptions()).name == name


def test_a_target_that_is_not_a_valid_url_is_its_path() -> None:
    line = ALB.replace(b"http://www.example.com:80/", b"http://[www.example.com:80/")
    assert line != ALB
    record = parse(line)
    assert record is not None and (record.host, record.path) == (
        "", "http://[www.example.com:80/")
