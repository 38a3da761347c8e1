"""The alert webhook: alert changes delivered in order, with retries, through an
AlertSender (over HTTP: a JSON POST each)."""

import asyncio
import logging
import random

from logctl.services.alerts import Alert
from logctl.services.contracts import AlertSender

log = logging.getLogger("logctl.monitor")
WEBHOOK_ATTEMPTS = 5
WEBHOOK_BACKOFF_S = 0.5


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

    async def run(self, sender: AlertSender) -> None:
        """Deliver queued alerts until cancelled."""
        while True:
            alert = await self.queue.get()
            if await self._deliver(sender, alert):
                self.sent += 1
            else:
                self.dropped += 1
                log.error("alert webhook %s: gave up on %s after %d attempts", self.url,
                          alert.message, self.attempts)

    async def _deliver(self, sender: AlertSender, alert: Alert) -> bool:
        for attempt in range(self.attempts):
            outcome = await sender.deliver({"alert": alert.as_json()})
            if outcome != "retry":
                return outcome == "sent"
            if attempt + 1 < self.attempts:
                await asyncio.sleep(self.backoff_s * 2**attempt * random.uniform(0.5, 1.0))
        return False
