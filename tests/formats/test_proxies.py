"""Proxies' access logs: Envoy's default format (the example of Envoy's access log
documentation), and Traefik's CLF and ingress-nginx's default format on the combined
parser (lines built from the format each project documents; tests/data/SOURCES.md)."""

import pytest

from logctl.formats import FormatOptions
from logctl.formats.combined import CombinedParser
from logctl.formats.detect import detect_format
from logctl.formats.envoy import EnvoyParser

ENVOY = (b'[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 '
         b'"10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" '
         b'"tcp://10.0.2.1:80"')
TRAEFIK = (b'192.168.2.20 - - [13/Jun/2024:16:30:00 +0000] "GET /whoami HTTP/1.1" 200 412 "-" '
           b'"curl/8.5.0" 17 "whoami@docker" "http://172.18.0.3:80" 3ms')
INGRESS = (b'10.244.0.1 - - [13/Jun/2024:16:30:00 +0000] "GET /api/items/42 HTTP/1.1" 503 190 '
           b'"-" "curl/8.5.0" 86 0.012 [default-api-80] [] 10.244.1.7:8080 190 0.011 503 '
           b'5f4c8b2a9d7e6f1a3b2c4d5e6f7a8b9c')


def test_envoy_documented_example() -> None:
    record = EnvoyParser()(ENVOY)
    assert record is not None
    assert (record.ts, record.method, record.path, record.status, record.bytes, record.rt_ms,
            record.host, record.client) == (1460751420.31, "POST", "/api/v1/locations", 204,
                                            0, 226.0, "locations", "10.0.35.28")


def test_envoy_client_gone_counts_as_status_0() -> None:
    line = ENVOY.replace(b'" 204 - 154 0 226 100', b'" 0 DC 154 0 31 -')
    record = EnvoyParser()(line)
    assert record is not None and (record.status, record.rt_ms) == (0, 31.0)


@pytest.mark.parametrize("line", [ENVOY[:-10], ENVOY.replace(b"2016-", b"1969-"),
                                  ENVOY.replace(b" 154 0 ", b" 154 " + b"9" * 16 + b" ")])
def test_envoy_malformed(line: bytes) -> None:
    assert EnvoyParser()(line) is None


def test_traefik_duration_and_router() -> None:
    record = CombinedParser()(TRAEFIK)
    assert record is not None
    assert (record.status, record.bytes, record.rt_ms, record.host) == (200, 412, 3.0,
                                                                        "whoami@docker")


def test_ingress_nginx_request_time_and_upstream() -> None:
    record = CombinedParser()(INGRESS)
    assert record is not None
    assert (record.status, record.bytes, record.host) == (503, 190, "default-api-80")
    assert record.rt_ms == pytest.approx(12.0)  # $request_time, not $request_length (86)


def test_older_ingress_nginx_without_the_alternative_upstream() -> None:
    line = INGRESS.replace(b"[default-api-80] [] ", b"[default-api-80] ")
    record = CombinedParser()(line)
    assert record is not None and record.host == "default-api-80"
    assert record.rt_ms == pytest.approx(12.0)


@pytest.mark.parametrize(("line", "name"), [(ENVOY, "envoy"), (TRAEFIK, "combined"),
                                            (INGRESS, "combined")])
def test_auto_detected(line: bytes, name: str) -> None:
    assert detect_format(line + b"\n", FormatOptions()).name == name
