"""Calls that cross a process: retries with exponential backoff and full
jitter on retryable failures only, within a total time budget; a circuit breaker per
peer; and a fault-injection switch the reliability tests use to make a peer drop, delay
or duplicate calls. Transport-neutral: the REST and gRPC clients both call `Guard.call`."""

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from logctl.errors import LogctlError, PeerError, UsageError

log = logging.getLogger("logctl.peers")
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff `base * 2**n` capped at `cap`, slept as uniform(0, that) (full jitter),
    until `budget` seconds have passed since the first attempt."""

    budget: float = 30.0
    base: float = 0.05
    cap: float = 2.0

    def delay(self, attempt: int, hint: float | None) -> float:
        """How long to wait before the next attempt; a peer's Retry-After wins."""
        if hint is not None:
            return min(hint, self.cap * 4)
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


class BreakerOpen(PeerError):
    """Refused without calling: the peer failed too often just now."""

    def __init__(self, peer: str, retry_in: float) -> None:
        super().__init__(f"{peer}: circuit open after repeated failures, retrying in "
                         f"{retry_in:.1f}s", retryable=True, retry_after=retry_in)


class CircuitBreaker:
    """Closed: calls go through. Open after `failures` consecutive failures, or when more
    than `error_rate` of the last `window` calls failed: calls are refused at once for
    `reset_after` seconds. Then half-open: one probe call goes through; its success
    closes the breaker, its failure opens it again."""

    def __init__(self, peer: str, failures: int = 5, error_rate: float = 0.5,
                 window: int = 20, reset_after: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.peer = peer
        self.failures = failures
        self.error_rate = error_rate
        self.reset_after = reset_after
        self.clock = clock
        self.state = "closed"
        self.consecutive = 0
        self.opened_at = 0.0
        self.opens = 0
        self.recent: deque[bool] = deque(maxlen=window)
        self.probing = False
        self.lock = threading.Lock()

    def allow(self) -> None:
        """Raise BreakerOpen unless a call may go through now."""
        with self.lock:
            if self.state == "open":
                waited = self.clock() - self.opened_at
                if waited < self.reset_after:
                    raise BreakerOpen(self.peer, self.reset_after - waited)
                self.state = "half_open"
                self.probing = False
            if self.state == "half_open":
                if self.probing:
                    raise BreakerOpen(self.peer, self.reset_after)
                self.probing = True

    def succeeded(self) -> None:
        with self.lock:
            self.recent.append(True)
            self.consecutive = 0
            if self.state != "closed":
                log.info("%s: circuit closed", self.peer)
            self.state, self.probing = "closed", False

    def failed(self) -> None:
        with self.lock:
            self.recent.append(False)
            self.consecutive += 1
            full = len(self.recent) == self.recent.maxlen
            rate = self.recent.count(False) / len(self.recent)
            if self.state == "half_open" or self.consecutive >= self.failures or (
                    full and rate > self.error_rate):
                if self.state != "open":
                    self.opens += 1
                    log.warning("%s: circuit open (%d failures in a row)", self.peer,
                                self.consecutive)
                self.state, self.opened_at, self.probing = "open", self.clock(), False

    def as_json(self) -> dict[str, Any]:
        return {"state": self.state, "consecutive_failures": self.consecutive,
                "opens": self.opens}


@dataclass(frozen=True)
class Faults:
    """Injected faults for one peer, off unless configured (`faults` setting, e.g.
    "storage:drop=0.2,delay=0.05,duplicate=3"): `drop` loses that share of calls (half
    before the peer sees them, half after: the answer is lost); `delay` sleeps that many
    seconds before each call; `duplicate` sends every call that many times."""

    drop: float = 0.0
    delay: float = 0.0
    duplicate: int = 1

    def around(self, peer: str, call: Callable[[], T]) -> T:
        if self.delay:
            time.sleep(self.delay)
        if self.drop and random.random() < self.drop / 2:
            raise PeerError(f"{peer}: call dropped (fault injection)", retryable=True)
        result = call()
        for _ in range(self.duplicate - 1):
            result = call()
        if self.drop and random.random() < self.drop / 2:
            raise PeerError(f"{peer}: answer dropped (fault injection)", retryable=True)
        return result


def parse_faults(spec: str) -> dict[str, Faults]:
    """'storage:drop=0.2,delay=0.05;processing:duplicate=2' to faults per peer name."""
    faults: dict[str, Faults] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        peer, _, settings = part.partition(":")
        values: dict[str, Any] = {}
        try:
            for item in filter(None, settings.split(",")):
                name, _, value = item.partition("=")
                kind = int if name == "duplicate" else float
                if name not in ("drop", "delay", "duplicate"):
                    raise ValueError(name)
                values[name] = kind(value)
            faults[peer.strip()] = Faults(**values)
        except ValueError:
            raise UsageError(f"bad fault spec {part!r}: use PEER:drop=0.2,delay=0.05,"
                             "duplicate=2") from None
    return faults


class Guard:
    """Everything between a client and one peer: breaker, retries, injected faults.
    `wait_when_open=False` fails at once while the breaker is open, for callers with a
    fallback (processing spools rather than wait for storage)."""

    def __init__(self, peer: str, policy: RetryPolicy | None = None,
                 breaker: CircuitBreaker | None = None, faults: Faults | None = None,
                 wait_when_open: bool = True) -> None:
        self.peer = peer
        self.policy = policy or RetryPolicy()
        self.breaker = breaker or CircuitBreaker(peer)
        self.faults = faults or Faults()
        self.wait_when_open = wait_when_open
        self.retries = 0

    def call(self, attempt: Callable[[], T], retry: bool = True) -> T:
        """Run `attempt` until it succeeds, fails for good, or the budget is spent."""
        started = time.monotonic()
        tries = 0
        while True:
            try:
                self.breaker.allow()
                result = self.faults.around(self.peer, attempt)
            except PeerError as exc:
                if not isinstance(exc, BreakerOpen):
                    (self.breaker.failed if exc.retryable else self.breaker.succeeded)()
                pause = self.policy.delay(tries, exc.retry_after)
                spent = time.monotonic() - started
                gives_up = isinstance(exc, BreakerOpen) and not self.wait_when_open
                if gives_up or not (retry and exc.retryable) or spent + pause > self.policy.budget:
                    raise
                tries += 1
                self.retries += 1
                time.sleep(pause)
                continue
            except LogctlError:
                self.breaker.succeeded()  # the peer answered: the fault is the request's
                raise
            self.breaker.succeeded()
            return result


def guard_factory(budget: float, faults_spec: str) -> Callable[..., Guard]:
    """Guards for one process's peers: one retry policy, a breaker each, and the faults
    configured for a peer's name (`processing.1` takes those of `processing`)."""
    policy = RetryPolicy(budget=budget)
    faults = parse_faults(faults_spec)

    def make(peer: str, wait_when_open: bool = True) -> Guard:
        return Guard(peer, policy, CircuitBreaker(peer), faults.get(peer.split(".")[0]),
                     wait_when_open)
    return make


def command_guard(peer: str, budget: float = 3.0) -> Guard:
    """For one CLI command: a few quick retries, then the error; no breaker to open."""
    return Guard(peer, RetryPolicy(budget=budget), CircuitBreaker(peer, failures=10**6,
                                                                  window=10**6))
