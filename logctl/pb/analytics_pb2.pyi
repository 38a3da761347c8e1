from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MetricsRequest(_message.Message):
    __slots__ = ("since", "until", "by", "step", "top", "sources", "hosts", "route", "statuses", "methods")
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    since: str
    until: str
    by: str
    step: str
    top: int
    sources: _containers.RepeatedScalarFieldContainer[str]
    hosts: _containers.RepeatedScalarFieldContainer[str]
    route: str
    statuses: _containers.RepeatedScalarFieldContainer[str]
    methods: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, since: _Optional[str] = ..., until: _Optional[str] = ..., by: _Optional[str] = ..., step: _Optional[str] = ..., top: _Optional[int] = ..., sources: _Optional[_Iterable[str]] = ..., hosts: _Optional[_Iterable[str]] = ..., route: _Optional[str] = ..., statuses: _Optional[_Iterable[str]] = ..., methods: _Optional[_Iterable[str]] = ...) -> None: ...

class Latency(_message.Message):
    __slots__ = ("p50", "p90", "p95", "p99", "max", "mean")
    P50_FIELD_NUMBER: _ClassVar[int]
    P90_FIELD_NUMBER: _ClassVar[int]
    P95_FIELD_NUMBER: _ClassVar[int]
    P99_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    mean: float
    def __init__(self, p50: _Optional[float] = ..., p90: _Optional[float] = ..., p95: _Optional[float] = ..., p99: _Optional[float] = ..., max: _Optional[float] = ..., mean: _Optional[float] = ...) -> None: ...

class Summary(_message.Message):
    __slots__ = ("requests", "errors", "client_errors", "error_rate", "bytes", "malformed", "latency_ms", "first", "last")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ERRORS_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    MALFORMED_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    requests: int
    errors: int
    client_errors: int
    error_rate: float
    bytes: int
    malformed: int
    latency_ms: Latency
    first: str
    last: str
    def __init__(self, requests: _Optional[int] = ..., errors: _Optional[int] = ..., client_errors: _Optional[int] = ..., error_rate: _Optional[float] = ..., bytes: _Optional[int] = ..., malformed: _Optional[int] = ..., latency_ms: _Optional[_Union[Latency, _Mapping]] = ..., first: _Optional[str] = ..., last: _Optional[str] = ...) -> None: ...

class Group(_message.Message):
    __slots__ = ("key", "summary", "parts")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    key: str
    summary: Summary
    parts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, key: _Optional[str] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ..., parts: _Optional[_Iterable[str]] = ...) -> None: ...

class SeriesEntry(_message.Message):
    __slots__ = ("t", "summary", "groups")
    T_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    t: str
    summary: Summary
    groups: _containers.RepeatedCompositeFieldContainer[Group]
    def __init__(self, t: _Optional[str] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ..., groups: _Optional[_Iterable[_Union[Group, _Mapping]]] = ...) -> None: ...

class SummaryReply(_message.Message):
    __slots__ = ("summary",)
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    summary: Summary
    def __init__(self, summary: _Optional[_Union[Summary, _Mapping]] = ...) -> None: ...

class TopReply(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[Group]
    def __init__(self, groups: _Optional[_Iterable[_Union[Group, _Mapping]]] = ...) -> None: ...

class TimeSeriesReply(_message.Message):
    __slots__ = ("series",)
    SERIES_FIELD_NUMBER: _ClassVar[int]
    series: _containers.RepeatedCompositeFieldContainer[SeriesEntry]
    def __init__(self, series: _Optional[_Iterable[_Union[SeriesEntry, _Mapping]]] = ...) -> None: ...
