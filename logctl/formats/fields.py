"""Field mapping for structured logs (JSON lines, logfmt, user regexes): which key holds the
time, status, latency... with defaults for the common shapes (nginx JSON, ECS-like,
twelve-factor app logs) and per-user overrides."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from logctl.errors import UsageError
from logctl.formats.access import split_request
from logctl.formats.record import Record
from logctl.formats.timestamps import parse_any

# Latency keys and the factor that turns their unit into milliseconds.
LATENCY_KEYS: dict[str, float] = {
    "duration_ms": 1.0, "latency_ms": 1.0, "elapsed_ms": 1.0, "response_time_ms": 1.0,
    "rt_ms": 1.0, "took_ms": 1.0, "duration_us": 0.001, "duration_ns": 1e-6,
    "request_time": 1000.0, "upstream_response_time": 1000.0, "response_time": 1000.0,
    "duration": 1000.0, "latency": 1000.0, "rt": 1000.0, "duration_s": 1000.0,
}
DEFAULT_KEYS: dict[str, tuple[str, ...]] = {
    "ts": ("time", "timestamp", "@timestamp", "ts", "time_local", "time_iso8601", "datetime",
           "date", "t"),
    "status": ("status", "status_code", "response_code", "http.response.status_code", "code"),
    "method": ("method", "request_method", "http_method", "verb", "http.request.method",
               "request.method"),
    "path": ("path", "uri", "request_uri", "url", "url.path", "route", "request",
             "request.uri"),
    "bytes": ("bytes", "body_bytes_sent", "bytes_sent", "size", "response_size",
              "http.response.body.bytes"),
    "host": ("host", "vhost", "server_name", "hostname", "service", "service.name",
             "request.host"),
    "client": ("remote_addr", "client", "client_ip", "ip", "remote_ip", "client.ip",
               "request.remote_ip"),
    "level": ("level", "severity", "lvl", "log.level", "loglevel"),
}
SEVERITIES = {
    "emerg": 0, "emergency": 0, "panic": 0, "alert": 1, "crit": 2, "critical": 2, "fatal": 2,
    "err": 3, "error": 3, "eror": 3, "warn": 4, "warning": 4, "notice": 5, "info": 6,
    "information": 6, "informational": 6, "debug": 7, "trace": 7,
}
FIELDS = (*DEFAULT_KEYS, "latency")
UNITS = {"s": 1000.0, "ms": 1.0, "us": 0.001, "ns": 1e-6}


# Key layouts remembered per FieldMap: a log's lines share one or a few layouts, and a
# bound keeps a log of ever-changing keys from growing the cache without end.
MAX_LAYOUTS = 256


@dataclass(frozen=True)
class Layout:
    """For one layout of keys, the candidate keys of each field that can hold a value in
    it (present at the top level, or the head of a dotted path): most fields have one
    candidate or none, where the full candidate lists would be tried key by key."""

    keys: dict[str, tuple[str, ...]]
    latency: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class FieldMap:
    """Where each record field lives in a structured line. `overrides` maps a record field
    (ts, status, method, path, bytes, host, client, level) or `latency:<unit>` to a key."""

    overrides: Mapping[str, str] = field(default_factory=dict)
    layouts: dict[tuple[str, ...], Layout] = field(default_factory=dict, init=False,
                                                   repr=False, compare=False)

    def keys(self, name: str) -> tuple[str, ...]:
        """Candidate keys for a record field, the user's first."""
        if name in self.overrides:
            return (self.overrides[name],)
        return DEFAULT_KEYS[name]

    def latency_keys(self) -> dict[str, float]:
        """Latency keys with their unit factor; an override 'latency' is in ms unless named."""
        for name, key in self.overrides.items():
            if name.startswith("latency"):
                return {key: UNITS[name.partition(":")[2] or "ms"]}
        return LATENCY_KEYS

    def layout(self, obj: Mapping[str, object]) -> Layout:
        """The candidates worth trying in an object of this key layout (cached)."""
        shape = tuple(obj)
        found = self.layouts.get(shape)
        if found is None:
            if len(self.layouts) >= MAX_LAYOUTS:
                self.layouts.clear()
            found = self.layouts[shape] = Layout(
                {name: present(obj, self.keys(name)) for name in DEFAULT_KEYS},
                tuple((key, factor) for key, factor in self.latency_keys().items()
                      if present(obj, (key,))))
        return found

    def to_record(self, obj: Mapping[str, object]) -> Record | None:
        """Build a Record from a flat or nested mapping; None without a usable time."""
        layout = self.layout(obj)
        keys = layout.keys
        ts = parse_any(first(obj, keys["ts"]))
        if ts is None:
            return None
        method = text(first(obj, keys["method"]))
        path = text(first(obj, keys["path"]))
        if path and not method and " " in path:
            method, path = split_request(path.encode("utf-8", "replace"))
        level = first(obj, keys["level"])
        severity = severity_of(level) if level is not None else None
        return Record(
            ts=ts,
            method=method or ("-" if severity is None else level_name(severity)),
            path=path or "-",
            status=integer(first(obj, keys["status"])),
            bytes=integer(first(obj, keys["bytes"])),
            rt_ms=latency(obj, layout.latency),
            host=text(first(obj, keys["host"])),
            client=text(first(obj, keys["client"])),
            severity=severity,
        )

def latency(obj: Mapping[str, object], keys: tuple[tuple[str, float], ...]) -> float | None:
    """The first latency field present, in milliseconds (keys with their unit factor)."""
    for key, factor in keys:
        number = as_float(lookup(obj, key))
        if number is not None and number >= 0:
            return number * factor
    return None


def present(obj: Mapping[str, object], keys: tuple[str, ...]) -> tuple[str, ...]:
    """The keys that can hold a value in objects with obj's top-level keys, in order."""
    return tuple(key for key in keys if key in obj or key.partition(".")[0] in obj)


def severity_of(level: object) -> int | None:
    """The syslog severity a level value names ('ERROR', 'warn', ...), None if none."""
    return SEVERITIES.get(str(level).lower())


def level_name(severity: int) -> str:
    """Canonical syslog keyword for a severity number."""
    return ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")[severity]


def lookup(obj: Mapping[str, object], key: str) -> object:
    """obj[key], or a dotted path into nested objects ('http.response.status_code')."""
    if key in obj:
        return obj[key]
    node: object = obj
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def first(obj: Mapping[str, object], keys: tuple[str, ...]) -> object:
    """The value of the first key present with a scalar, non-empty value."""
    for key in keys:
        value = lookup(obj, key)
        if value is not None and value != "" and not isinstance(value, dict | list):
            return value
    return None


def text(value: object) -> str:
    """A field as text ('' when absent or nested)."""
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def as_float(value: object) -> float | None:
    """A number from a number or numeric text; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value == value and abs(value) != float("inf") else None
    if isinstance(value, str):
        try:
            number = float(value.split(",")[-1].strip())
        except ValueError:
            return None
        return number if number == number and abs(number) != float("inf") else None
    return None


def integer(value: object) -> int:
    """An integer field (status, bytes); 0 when absent or not a number."""
    number = as_float(value)
    if number is None or not 0 <= number < 2**62:
        return 0
    return int(number)


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """'status=code' style pairs from the CLI or config into a FieldMap override dict."""
    result = {}
    for pair in pairs:
        name, sep, key = pair.partition("=")
        base, _, unit = name.partition(":")
        if not sep or not key or base not in FIELDS or (unit and unit not in UNITS):
            raise UsageError(
                f"bad field mapping {pair!r}: use NAME=KEY with NAME one of {', '.join(FIELDS)}"
                " (latency may carry a unit: latency:s=KEY, latency:us=KEY)"
            )
        result[name] = key
    return result
