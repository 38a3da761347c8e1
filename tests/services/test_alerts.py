"""Alert rules, firing/resolved states with de-duplication, thresholds from config, and
the webhook's retries against a real local HTTP server."""

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest

from logctl.config import load_settings
from logctl.errors import UsageError
from logctl.services.alerts import AlertBook, AlertRules, evaluate, rules_from
from logctl.services.webhook import Webhook
from logctl.transport.rest.peers import RestAlertSender


def service(name: str, failures: int = 0, **health: object) -> dict:
    return {"name": name, "failures": failures, "reason": "connection refused",
            "poll_p95_ms": health.pop("poll_p95_ms", 10.0), "health": health}


def minute(requests: int, errors: int) -> dict:
    return {"t": "2026-01-01T00:00:00Z", "requests": requests, "errors": errors,
            "error_rate": errors / requests if requests else 0.0, "p95_ms": 12.0}


@pytest.mark.parametrize(("services", "traffic", "expected"), [
    ([service("ingest", failures=2)], [], []),
    ([service("ingest", failures=3)], [], [("service_down", "ingest", 3)]),
    ([service("storage", poll_p95_ms=501.0)], [], [("poll_latency", "storage", 501.0)]),
    ([service("storage", error_rate=0.06)], [], [("error_rate", "storage", 0.06)]),
    ([service("ingest", lag_s=61.5)], [], [("ingest_lag", "ingest", 61.5)]),
    ([service("processing", spool=4)], [], [("spool", "processing", 4)]),
    ([service("processing")], [], []),
    ([service("storage", disk_free_pct=4.5)], [], [("disk_free", "storage", 4.5)]),
    ([service("processing", breakers={"storage": "open", "x": "closed"})], [],
     [("breaker_open", "processing->storage", 1)]),
    ([], [minute(100, 4), minute(100, 7)], [("http_5xx", "logs", 5.5)]),
    ([], [minute(100, 10)] + [minute(100, 0)] * 5, []),
    ([service("ingest", failures=5, lag_s=99)], [], [("service_down", "ingest", 5)]),
])
def test_rules(services: list, traffic: list, expected: list) -> None:
    found = evaluate(AlertRules(), services, traffic)
    assert [(c.rule, c.subject, c.value) for c in found] == expected


def test_alerts_fire_once_and_resolve() -> None:
    book = AlertBook()
    down = evaluate(AlertRules(), [service("ingest", failures=3)], [])
    fired = book.update(down, 100.0)
    assert [(a.rule, a.state, a.since) for a in fired] == [("service_down", "firing", 100.0)]
    assert book.update(evaluate(AlertRules(), [service("ingest", failures=4)], []), 101.0) == []
    assert book.listing()[0]["message"] == "ingest is down: connection refused (4 polls missed)"
    resolved = book.update([], 102.0)
    assert [(a.state, a.since, a.resolved_at) for a in resolved] == [("resolved", 100.0, 102.0)]
    assert [a["state"] for a in book.listing()] == ["resolved"]
    assert book.update([], 103.0) == []


def test_thresholds_from_config_and_env() -> None:
    assert rules_from({"down_polls": 4.0, "http_5xx_pct": 1}) == AlertRules(
        down_polls=4, http_5xx_pct=1.0)
    settings = load_settings({}, env={"LOGCTL_ALERTS": "ingest_lag_s=5, spool=2",
                                      "LOGCTL_ALERT_WEBHOOK": "http://127.0.0.1:9/hook"})
    assert rules_from(settings.alerts) == AlertRules(ingest_lag_s=5.0, spool=2)
    assert settings.alert_webhook == "http://127.0.0.1:9/hook"
    with pytest.raises(UsageError, match="unknown alert rule 'lag'"):
        load_settings({}, env={"LOGCTL_ALERTS": "lag=5"})


class Hook(BaseHTTPRequestHandler):
    """Answers 503 to the first `fail_first` posts, then 204; keeps what it received."""

    received: ClassVar[list[dict]] = []
    fail_first: ClassVar[int] = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        failing = type(self).fail_first > 0
        type(self).fail_first -= 1
        if not failing:
            type(self).received.append(body)
        self.send_response(503 if failing else 204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def hook() -> Iterator[tuple[str, type[Hook]]]:
    handler = type("TestHook", (Hook,), {"received": [], "fail_first": 2})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()
    server.server_close()


def test_webhook_retries_then_delivers_in_order(hook: tuple[str, type[Hook]]) -> None:
    url, handler = hook
    book = AlertBook()
    changes = book.update(evaluate(AlertRules(), [service("storage", failures=3)], []), 1.0)
    changes += book.update([], 2.0)

    async def deliver() -> Webhook:
        webhook = Webhook(url, attempts=3, backoff_s=0.0)
        webhook.send(changes)
        async with httpx.AsyncClient() as client:
            task = asyncio.create_task(webhook.run(RestAlertSender(client, url)))
            while webhook.sent + webhook.dropped < 2:
                await asyncio.sleep(0)
            task.cancel()
        return webhook

    webhook = asyncio.run(deliver())
    assert (webhook.sent, webhook.dropped) == (2, 0)
    assert [(b["alert"]["rule"], b["alert"]["state"]) for b in handler.received] == [
        ("service_down", "firing"), ("service_down", "resolved")]
