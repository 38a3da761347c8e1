"""What `logctl status` shows, as one JSON-able dict: the monitor's dashboard data when
the daemons run, or, when no monitor answers, the embedded database's summary (what
`logctl metrics` would print), with a plain sentence saying which it is."""

from typing import Any

from logctl.auth import caller_token
from logctl.config import Settings
from logctl.errors import LogctlError
from logctl.store.base import Query
from logctl.transport.local import embedded
from logctl.transport.rest.monitor import RestMonitorClient

STATUS_TIMEOUT_S = 3.0


def collect(settings: Settings, monitor_url: str, now: float) -> dict[str, Any]:
    """The status from the monitor at `monitor_url`, else from the embedded database."""
    client = RestMonitorClient(monitor_url, timeout=STATUS_TIMEOUT_S,
                               token=caller_token(settings.token, settings.home),
                               ca=settings.tls_ca)
    try:
        data = client.dashboard()
    except LogctlError as exc:
        return embedded_status(settings, monitor_url, now, str(exc))
    finally:
        client.close()
    return {"mode": "daemons", "monitor_url": monitor_url,
            "message": f"monitor at {monitor_url}, polling every {data['interval_s']:g}s",
            "checked_at": data["checked_at"], "interval_s": data["interval_s"],
            "services": data["services"], "pipeline": data["pipeline"],
            "traffic": data["traffic"], "alerts": data["alerts"], "embedded": None}


def embedded_status(settings: Settings, monitor_url: str, now: float,
                    why: str) -> dict[str, Any]:
    """No daemons: say so, and summarize the embedded database instead."""
    db = settings.db_path
    summary = None
    if db.exists():
        with embedded(settings, now) as services:
            summary = services.analytics.metrics(Query()).body
    return {"mode": "embedded", "monitor_url": monitor_url,
            "message": f"no daemons running (no monitor answers at {monitor_url}); "
                       f"showing the embedded database {db}",
            "checked_at": now, "interval_s": settings.poll_interval, "services": [],
            "pipeline": {"lines_per_s": 0.0, "lag_bytes": 0, "lag_s": 0.0, "history": [],
                         "receivers": []},
            "traffic": [], "alerts": [],
            "embedded": {"db": str(db), "exists": db.exists(), "summary": summary,
                         "reason": why}}
