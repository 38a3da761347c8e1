"""Monitor: polls every service's `GET /v1/health` on an interval, timing each poll
itself, and keeps each service's latest state and a short history."""

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

HISTORY = 300
POLL_TIMEOUT_S = 2.0


@dataclass
class Target:
    """One service instance the monitor watches, and what it last saw."""

    name: str
    url: str
    state: str = "unknown"
    reason: str = "not polled yet"
    latency_ms: float | None = None
    failures: int = 0
    last_ok: float | None = None
    health: dict[str, Any] = field(default_factory=dict)
    history: deque[tuple[float, float | None]] = field(
        default_factory=lambda: deque(maxlen=HISTORY))

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "state": self.state,
                "reason": self.reason, "latency_ms": self.latency_ms,
                "failures": self.failures, "last_ok": self.last_ok, "health": self.health}


class Monitor:
    """Polls targets; a target is down after `down_after` failed polls in a row."""

    def __init__(self, targets: dict[str, str], interval: float = 2.0,
                 down_after: int = 2, token: str | None = None, ca: str | None = None) -> None:
        self.targets = [Target(name, url.rstrip("/")) for name, url in targets.items()]
        self.interval = interval
        self.down_after = down_after
        self.headers = {"authorization": f"Bearer {token}"} if token else {}
        self.verify: str | bool = ca or True
        self.polls = 0

    async def poll_once(self, client: httpx.AsyncClient) -> None:
        await asyncio.gather(*(self._poll(client, t) for t in self.targets))
        self.polls += 1

    async def _poll(self, client: httpx.AsyncClient, target: Target) -> None:
        started = time.perf_counter()
        try:
            response = await client.get(f"{target.url}/v1/health", timeout=POLL_TIMEOUT_S)
            body = response.json()
            ok = response.status_code == 200
            reason = body.get("status", "ok") if ok else f"HTTP {response.status_code}"
        except (httpx.HTTPError, ValueError) as exc:
            ok, body, reason = False, {}, f"{type(exc).__name__}: {exc}"
        latency = round((time.perf_counter() - started) * 1000, 3)
        target.history.append((time.time(), latency if ok else None))
        if ok:
            target.failures, target.last_ok, target.health = 0, time.time(), body
            target.state, target.reason, target.latency_ms = body.get("status", "ok"), reason, \
                latency
            return
        target.failures += 1
        target.latency_ms = None
        target.reason = reason
        target.state = "down" if target.failures >= self.down_after else "degraded"

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every `interval` seconds until `stop` is set."""
        async with httpx.AsyncClient(headers=self.headers, verify=self.verify) as client:
            while not stop.is_set():
                await self.poll_once(client)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)

    def services(self) -> list[dict[str, Any]]:
        return [t.as_json() for t in self.targets]
