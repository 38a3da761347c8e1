"""Settings, resolved once: defaults in code < logctl.toml < LOGCTL_* environment < flags.
The result is a typed object passed down; nothing below reads the environment."""

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

import platformdirs

from logctl.errors import UsageError
from logctl.formats import FormatOptions
from logctl.formats.fields import FieldMap, parse_overrides
from logctl.metrics.route import ROUTE_CAP
from logctl.metrics.window import parse_duration
from logctl.services.alerts import rules_from
from logctl.services.contracts import ENGINES
from logctl.sources import DEFAULT_GLOBS

CONFIG_NAME = "logctl.toml"
SERVICES = ("storage", "processing", "analytics", "ingest", "monitor")  # in start-up order


@dataclass(frozen=True)
class Settings:
    """Everything the commands need to know about where data lives and how to read logs."""

    home: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir("logctl")))
    db: Path | None = None
    format: str = "auto"
    rt_unit: str = "auto"
    fields: Mapping[str, str] = field(default_factory=dict)
    workers: int = 0
    chunk_size: int = 4 * 1024 * 1024
    route_cap: int = ROUTE_CAP
    engine: str = "auto"
    store: str | None = None
    # The storage daemon syncs every commit to disk before it acknowledges the batch (a
    # power loss then loses nothing a peer was told is stored); false trades that for
    # throughput. The embedded ingest never needs it: it re-reads from its checkpoint.
    durable: bool = True
    # Retention: points older than `retention` are dropped (whole days), minute points
    # older than `downsample_after` are folded into hour points; `logctl prune` applies
    # both, and the storage daemon every `prune_interval` seconds. Unset: kept as they are.
    retention: str | None = None
    downsample_after: str | None = None
    prune_interval: float = 3600.0
    # Daemons: each service binds its own address and finds its peers here.
    ingest_url: str = "http://127.0.0.1:7401"
    processing_urls: tuple[str, ...] = ("http://127.0.0.1:7402",)
    storage_url: str = "http://127.0.0.1:7403"
    storage_grpc: str = "127.0.0.1:7413"
    analytics_url: str = "http://127.0.0.1:7404"
    analytics_grpc: str = "127.0.0.1:7414"
    monitor_url: str = "http://127.0.0.1:7405"
    remote: str | None = None
    realtime_window: str = "1h"
    watch: tuple[str, ...] = ()
    globs: tuple[str, ...] = DEFAULT_GLOBS
    poll_interval: float = 2.0
    max_body: int = 64 * 1024 * 1024
    # Receivers (POST /v1/logs): the OTLP log-record attribute holding a request's
    # duration, and its unit (s or ms).
    otlp_duration_attribute: str = "http.server.request.duration"
    otlp_duration_unit: str = "s"
    # Syslog listeners of the ingest daemon (HOST:PORT; unset: none). TCP takes RFC 6587
    # octet counting or LF framing, and TLS when the daemon has a certificate.
    syslog_udp: str | None = None
    syslog_tcp: str | None = None
    # Calls between services: deadline per call, total retry budget,
    # bounded queues, the processing spool, and faults injected for tests (off: "").
    call_timeout: float = 30.0
    retry_budget: float = 60.0
    max_in_flight: int = 8
    spool_max_bytes: int = 256 * 1024 * 1024
    faults: str = ""
    # Security (README "Security"): tokens, TLS, limits.
    token: str | None = None
    service_token: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    insecure: bool = False
    allowed_roots: tuple[str, ...] = ()
    max_upload: int = 10 * 1024**3
    max_client_requests: int = 32
    request_timeout: float = 300.0
    max_query_cells: int = 1_000_000
    metrics_open: bool = False
    # The analytics daemon's /metrics also exposes the stored log metrics (the names of its
    # Prometheus query API) for a Prometheus server to scrape; off, since each scrape
    # reads every series.
    export_log_metrics: bool = False
    # Monitor: alert thresholds by rule name (services/alerts.py) and where alerts go.
    alerts: Mapping[str, float] = field(default_factory=dict)
    alert_webhook: str | None = None

    def format_options(self, now: float) -> FormatOptions:
        """Parser options from these settings; `now` dates syslog stamps without a year."""
        return FormatOptions(self.rt_unit, FieldMap(dict(self.fields)), now)

    @property
    def db_path(self) -> Path:
        """The metrics database: `db` when set, else logctl.db in the home directory."""
        return self.db or self.home / "logctl.db"

    @property
    def store_target(self) -> str:
        """Where metrics live: the `store` URL or path when set, else the SQLite db path."""
        return self.store or str(self.db_path)


HINTS = get_type_hints(Settings)
DURATIONS = ("realtime_window", "retention", "downsample_after")


def env_name(setting: str) -> str:
    """The environment variable of a setting: LOGCTL_ and its name in capitals."""
    return f"LOGCTL_{setting.upper()}"


# Counts that may be 0 (workers: 0 means one per core); every other int setting is > 0.
ZERO_ALLOWED = ("workers",)


def load_settings(flags: Mapping[str, Any], env: Mapping[str, str] | None = None,
                  config: Path | None = None) -> Settings:
    """Resolve settings from every layer; `flags` holds only options the user gave."""
    env = os.environ if env is None else env
    settings = Settings()
    home = flags.get("home") or env.get("LOGCTL_HOME")
    if home:
        settings = replace(settings, home=Path(home))
    settings = _apply(settings, _read_toml(config, settings.home), "logctl.toml")
    from_env = {f.name: env[env_name(f.name)] for f in fields(Settings)
                if env.get(env_name(f.name))}
    settings = _apply(settings, from_env, "environment")
    return _apply(settings, {k: v for k, v in flags.items() if v is not None}, "flags")


def _read_toml(config: Path | None, home: Path) -> dict[str, Any]:
    candidates = [config] if config else [Path.cwd() / CONFIG_NAME, home / CONFIG_NAME]
    for path in candidates:
        if path.is_file():
            try:
                return tomllib.loads(path.read_text())
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise UsageError(f"bad config file {path}: {exc}") from None
        if config:
            raise UsageError(f"no such config file: {config}")
    return {}


def _apply(settings: Settings, values: Mapping[str, Any], origin: str) -> Settings:
    """Overlay values onto settings, converting and checking each against its field."""
    known = {f.name: f for f in fields(Settings)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise UsageError(f"unknown setting {key!r} in {origin}")
        changes[key] = _convert(key, value, origin)
    return replace(settings, **changes)


def _convert(key: str, value: Any, origin: str) -> Any:
    """A setting's value from TOML, the environment (text) or a flag, by its field's type."""
    kind = HINTS[key]
    try:
        if key == "fields":
            return _field_map(value)
        if key == "alerts":
            return _alert_thresholds(value)
        if kind in (Path, Path | None):
            return Path(value).expanduser()
        if kind is bool:
            return _boolean(value)
        if kind is int:
            return _count(key, value)
        if kind is float:
            number = float(value)
            if number <= 0:
                raise ValueError(value)
            return number
        if kind == tuple[str, ...]:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(item).strip() for item in items if str(item).strip())
        if key in DURATIONS:
            parse_duration(str(value))
        if key == "engine" and value not in ENGINES:
            raise ValueError(value)
        if key == "otlp_duration_unit" and value not in ("s", "ms"):
            raise ValueError(value)
        return str(value)
    except (TypeError, ValueError):
        raise UsageError(f"bad value for {key} in {origin}: {value!r}") from None


def _boolean(value: Any) -> bool:
    """A flag from a bool or the words 1/0, true/false, yes/no."""
    if isinstance(value, bool):
        return value
    if str(value).lower() not in ("1", "0", "true", "false", "yes", "no"):
        raise ValueError(value)
    return str(value).lower() in ("1", "true", "yes")


def _count(key: str, value: Any) -> int:
    """A positive count (or 0 where a setting allows it)."""
    if isinstance(value, bool):
        raise ValueError(value)
    number = int(value)
    if number < 0 or (number == 0 and key not in ZERO_ALLOWED):
        raise ValueError(value)
    return number


def _field_map(value: Any) -> dict[str, str]:
    """Field overrides from a TOML table or "name=key,…" (env)."""
    if isinstance(value, str):
        return parse_overrides([item.strip() for item in value.split(",") if item.strip()])
    return dict(value)


def _alert_thresholds(value: Any) -> dict[str, float]:
    """Alert thresholds from a TOML table or "name=value,…" (env), checked by name."""
    if isinstance(value, str):
        pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError(value)
        value = {name.strip(): number.strip() for name, number in pairs}
    thresholds = {str(name): float(number) for name, number in dict(value).items()}
    try:
        rules_from(thresholds)
    except ValueError as exc:
        raise UsageError(f"bad alerts setting: {exc}") from None
    return thresholds
