"""The circuit breaker on an injected clock: closed -> open after five failures in a row
or when more than half of the last twenty calls failed -> half-open once reset_after has
passed, with exactly one probe let through -> closed on its success, open again on its
failure. And the Guard around it: retries only what may succeed later, within the budget."""

import pytest

from logctl.errors import PeerError
from logctl.transport.resilience import BreakerOpen, CircuitBreaker, Guard, RetryPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_closed_open_half_open_closed() -> None:
    clock = Clock()
    breaker = CircuitBreaker("storage", failures=5, reset_after=2.0, clock=clock)
    for _ in range(4):
        breaker.allow()
        breaker.failed()
    assert (breaker.state, breaker.opens) == ("closed", 0)
    breaker.allow()
    breaker.failed()
    assert (breaker.state, breaker.opens) == ("open", 1)
    clock.now += 1.5
    with pytest.raises(BreakerOpen) as refused:
        breaker.allow()
    assert refused.value.retry_after == pytest.approx(0.5)
    assert refused.value.retryable
    clock.now += 0.5
    breaker.allow()  # the probe
    assert breaker.state == "half_open"
    with pytest.raises(BreakerOpen):
        breaker.allow()  # only one probe at a time
    breaker.succeeded()
    assert (breaker.state, breaker.consecutive) == ("closed", 0)
    breaker.allow()


def test_a_failed_probe_opens_it_again_for_a_full_reset() -> None:
    clock = Clock()
    breaker = CircuitBreaker("storage", failures=1, reset_after=2.0, clock=clock)
    breaker.failed()
    clock.now += 2.0
    breaker.allow()
    breaker.failed()
    assert (breaker.state, breaker.opens, breaker.opened_at) == ("open", 2, clock.now)
    clock.now += 1.9
    with pytest.raises(BreakerOpen):
        breaker.allow()


def test_it_opens_on_the_error_rate_of_a_full_window() -> None:
    breaker = CircuitBreaker("p", failures=100, error_rate=0.5, window=20, clock=Clock())
    for i in range(19):  # 10 failures in 19 calls, never 5 in a row: window not full
        (breaker.failed if i % 2 == 0 else breaker.succeeded)()
    assert breaker.state == "closed"
    breaker.failed()  # 11 of 20 failed: more than half
    assert breaker.state == "open"


def test_the_guard_retries_what_may_succeed_and_nothing_else() -> None:
    calls: list[str] = []

    def flaky() -> str:
        calls.append("x")
        if len(calls) < 3:
            raise PeerError("storage: unreachable", retryable=True, retry_after=0.0)
        return "stored"

    guard = Guard("storage", RetryPolicy(budget=5.0))
    assert guard.call(flaky) == "stored"
    assert (len(calls), guard.breaker.state) == (3, "closed")

    def refused() -> str:
        calls.append("y")
        raise PeerError("storage: bad batch", retryable=False)

    with pytest.raises(PeerError, match="bad batch"):
        guard.call(refused)
    assert calls.count("y") == 1


def test_an_open_breaker_fails_at_once_for_callers_with_a_fallback() -> None:
    breaker = CircuitBreaker("storage", failures=1, reset_after=60.0, clock=Clock())
    breaker.failed()
    guard = Guard("storage", RetryPolicy(budget=30.0), breaker, wait_when_open=False)
    with pytest.raises(BreakerOpen):
        guard.call(lambda: "never called")
