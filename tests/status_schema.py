"""The schema of `logctl status --json` (exact keys, in order, and types), shared by the
embedded test and the daemon test."""

TOP = {"mode": str, "monitor_url": str, "message": str, "checked_at": float,
       "interval_s": float, "services": list, "pipeline": dict, "traffic": list,
       "alerts": list, "embedded": (dict, type(None))}
PIPELINE = {"lines_per_s": float, "lag_bytes": int, "lag_s": float, "history": list,
            "receivers": list}
RECEIVER = {"name": str, "records_per_s": float, "bytes_per_s": float, "records": int,
            "rejected": int, "dropped": int}
SERVICE = {"name": str, "url": str, "state": str, "reason": str,
           "latency_ms": (float, type(None)), "poll_p95_ms": (float, type(None)),
           "failures": int, "last_ok": (float, type(None)),
           "requests_per_s": (float, type(None)), "error_rate": (float, type(None)),
           "cpu_percent": (float, type(None)), "rss_bytes": (int, type(None)),
           "history": list}
HISTORY = {"t": float, "lines_per_s": float, "lag_bytes": int, "lag_s": float}
TRAFFIC = {"t": str, "requests": int, "errors": int, "error_rate": float,
           "p95_ms": (float, type(None))}
ALERT = {"rule": str, "subject": str, "message": str, "value": (int, float),
         "threshold": (int, float), "state": str, "since": float,
         "resolved_at": (float, type(None))}


def check(value: dict, schema: dict) -> None:
    assert list(value) == list(schema)
    for key, kind in schema.items():
        assert isinstance(value[key], kind), (key, value[key])


def check_status(body: dict) -> None:
    """The whole --json document against its schema."""
    check(body, TOP)
    check(body["pipeline"], PIPELINE)
    for point in body["pipeline"]["history"]:
        check(point, HISTORY)
    for receiver in body["pipeline"]["receivers"]:
        check(receiver, RECEIVER)
    for service in body["services"]:
        check(service, SERVICE)
    for minute in body["traffic"]:
        check(minute, TRAFFIC)
    for alert in body["alerts"]:
        check(alert, ALERT)
