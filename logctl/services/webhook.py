"""The alert webhook: alert changes POSTed as JSON, in order, with retries. Apart from the
rules so that reading alert settings does not import an HTTP client."""

import asyncio
import logging
import random

import httpx

from logctl.services.alerts import Alert

log = logging.getLogger("logctl.monitor")
WEBHOOK_ATTEMPTS = 5
WEBHOOK_BACKOFF_S = 0.5
WEBHOOK_TIMEOUT_S = 5.0


class Webhook:
    """Sends alert changes, in order, as JSON POSTs; a failed send is retried with
    exponential backoff and jitter, then dropped with a log line (alerts stay listed)."""

    def __init__(self, url: str, attempts: int = WEBHOOK_ATTEMPTS,
                 backoff_s: float = WEBHOOK_BACKOFF_S) -> None:
        self.url = url
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.queue: asyncio.Queue[Alert] = asyncio.Queue()
        self.sent = 0
        self.dropped = 0

    def send(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self.queue.put_nowait(alert)

    async def run(self, client: httpx.AsyncClient) -> None:
        """Deliver queued alerts until cancelled."""
        while True:
            alert = await self.queue.get()
            if await self._deliver(client, alert):
                self.sent += 1
            else:
                self.dropped += 1
                log.error("alert webhook %s: gave up on %s after %d attempts", self.url,
                          alert.message, self.attempts)

    async def _deliver(self, client: httpx.AsyncClient, alert: Alert) -> bool:
        for attempt in range(self.attempts):
            try:
                response = await client.post(self.url, json={"alert": alert.as_json()},
                                             timeout=WEBHOOK_TIMEOUT_S)
                if response.status_code < 300:
                    return True
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    return False
            except httpx.HTTPError as exc:
                log.warning("alert webhook %s: %s", self.url, exc)
            if attempt + 1 < self.attempts:
                await asyncio.sleep(self.backoff_s * 2**attempt * random.uniform(0.5, 1.0))
        return False
