"""Alerts: rules over what the monitor sees, and alerts that fire and resolve (the
webhook that sends them is in `webhook.py`).

Rules are pure: they read the monitor's view of each service (`Target` JSON) and of the
ingested traffic, and say which conditions hold now. The `AlertBook` turns conditions into
alerts with a state: a condition that starts holding fires one alert (a condition that
keeps holding does not fire again), and one that stops holding resolves it."""

import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

log = logging.getLogger("logctl.monitor")
RESOLVED_KEPT = 100


@dataclass(frozen=True)
class AlertRules:
    """Thresholds (logctl.toml `[alerts]`, or LOGCTL_ALERTS="name=value,…")."""

    down_polls: int = 2            # a service missed more polls than this in a row
    poll_p95_ms: float = 500.0     # p95 of the monitor's own poll times, last 30 polls
    error_rate: float = 0.05       # share of a service's REST requests answered 5xx
    ingest_lag_s: float = 60.0     # unread bytes have waited longer than this
    spool: int = 0                 # batches spooled by processing while storage is down
    disk_free_pct: float = 5.0     # free space where the database lives
    http_5xx_pct: float = 5.0      # 5xx share of the ingested requests, last window
    http_5xx_window_m: int = 5     # minutes the 5xx rule looks back


RULE_NAMES = tuple(f.name for f in fields(AlertRules))


def rules_from(values: Mapping[str, Any]) -> AlertRules:
    """Rules with the given thresholds over the defaults; unknown names are an error."""
    unknown = sorted(set(values) - set(RULE_NAMES))
    if unknown:
        raise ValueError(f"unknown alert rule {unknown[0]!r}: use {', '.join(RULE_NAMES)}")
    kinds = {f.name: f.type for f in fields(AlertRules)}
    return AlertRules(**{k: (int if kinds[k] in (int, "int") else float)(v)
                         for k, v in values.items()})


@dataclass(frozen=True)
class Condition:
    """A rule that holds now for one subject (a service, a breaker, the data)."""

    rule: str
    subject: str
    message: str
    value: float
    threshold: float

    @property
    def key(self) -> tuple[str, str]:
        return self.rule, self.subject


@dataclass
class Alert:
    """One alert: firing from `since` while its condition holds, then resolved."""

    rule: str
    subject: str
    message: str
    value: float
    threshold: float
    state: str
    since: float
    resolved_at: float | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(rules: AlertRules, services: list[dict[str, Any]],
             traffic: list[dict[str, Any]]) -> list[Condition]:
    """Every condition that holds now, from the monitor's services and traffic."""
    found = [c for service in services for c in _service_conditions(rules, service)]
    return found + _traffic_conditions(rules, traffic)


def _service_conditions(rules: AlertRules, service: dict[str, Any]) -> list[Condition]:
    name, health = service["name"], service.get("health") or {}
    found = []
    if service["failures"] > rules.down_polls:
        found.append(Condition("service_down", name, f"{name} is down: {service['reason']} "
                               f"({service['failures']} polls missed)", service["failures"],
                               rules.down_polls))
        return found
    checks = (
        ("poll_latency", service.get("poll_p95_ms"), rules.poll_p95_ms,
         "p95 of polls {:.0f} ms"),
        ("error_rate", health.get("error_rate"), rules.error_rate, "error rate {:.1%}"),
        ("ingest_lag", health.get("lag_s"), rules.ingest_lag_s, "ingest lag {:.0f} s"),
        ("spool", health.get("spool", 0), rules.spool, "{:.0f} batches spooled"),
    )
    for rule, value, threshold, text in checks:
        if isinstance(value, int | float) and value > threshold:
            found.append(Condition(rule, name, f"{name}: {text.format(value)}", value,
                                   threshold))
    free = health.get("disk_free_pct")
    if isinstance(free, int | float) and free < rules.disk_free_pct:
        found.append(Condition("disk_free", name, f"{name}: {free:.1f}% disk free", free,
                               rules.disk_free_pct))
    for peer, state in sorted((health.get("breakers") or {}).items()):
        if state == "open":
            found.append(Condition("breaker_open", f"{name}->{peer}",
                                   f"{name}: circuit to {peer} is open", 1, 0))
    return found


def _traffic_conditions(rules: AlertRules, traffic: list[dict[str, Any]]) -> list[Condition]:
    recent = traffic[-rules.http_5xx_window_m:] if rules.http_5xx_window_m > 0 else []
    requests = sum(m["requests"] for m in recent)
    errors = sum(m["errors"] for m in recent)
    pct = errors / requests * 100 if requests else 0.0
    if pct > rules.http_5xx_pct:
        return [Condition("http_5xx", "logs", f"5xx are {pct:.1f}% of {requests:,} requests "
                          f"in the last {rules.http_5xx_window_m} minutes", round(pct, 3),
                          rules.http_5xx_pct)]
    return []


class AlertBook:
    """Alerts by (rule, subject): firing ones, and the last resolved ones."""

    def __init__(self) -> None:
        self.firing: dict[tuple[str, str], Alert] = {}
        self.resolved: deque[Alert] = deque(maxlen=RESOLVED_KEPT)

    def update(self, conditions: list[Condition], now: float) -> list[Alert]:
        """Apply what holds now; returns the alerts that changed state (to be sent)."""
        changed = []
        holding = {c.key: c for c in conditions}
        for key, condition in holding.items():
            alert = self.firing.get(key)
            if alert is None:
                alert = Alert(condition.rule, condition.subject, condition.message,
                              condition.value, condition.threshold, "firing", now)
                self.firing[key] = alert
                changed.append(alert)
                log.warning("alert firing: %s", alert.message)
            else:
                alert.message, alert.value = condition.message, condition.value
        for key in [k for k in self.firing if k not in holding]:
            alert = self.firing.pop(key)
            alert.state, alert.resolved_at = "resolved", now
            self.resolved.append(alert)
            changed.append(alert)
            log.warning("alert resolved: %s", alert.message)
        return [Alert(**asdict(a)) for a in changed]

    def listing(self) -> list[dict[str, Any]]:
        """Firing alerts (oldest first), then resolved ones (latest first)."""
        return ([a.as_json() for a in sorted(self.firing.values(), key=lambda a: a.since)]
                + [a.as_json() for a in reversed(self.resolved)])
