from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Point(_message.Message):
    __slots__ = ("count", "errors", "client_errors", "bytes", "latency_count", "latency_sum", "latency_max", "hist", "first", "last")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ERRORS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    LATENCY_COUNT_FIELD_NUMBER: _ClassVar[int]
    LATENCY_SUM_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MAX_FIELD_NUMBER: _ClassVar[int]
    HIST_FIELD_NUMBER: _ClassVar[int]
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    count: int
    errors: int
    client_errors: int
    bytes: int
    latency_count: int
    latency_sum: float
    latency_max: float
    hist: bytes
    first: float
    last: float
    def __init__(self, count: _Optional[int] = ..., errors: _Optional[int] = ..., client_errors: _Optional[int] = ..., bytes: _Optional[int] = ..., latency_count: _Optional[int] = ..., latency_sum: _Optional[float] = ..., latency_max: _Optional[float] = ..., hist: _Optional[bytes] = ..., first: _Optional[float] = ..., last: _Optional[float] = ...) -> None: ...

class KeyedPoint(_message.Message):
    __slots__ = ("minute", "host", "method", "route", "status", "point")
    MINUTE_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    POINT_FIELD_NUMBER: _ClassVar[int]
    minute: int
    host: str
    method: str
    route: str
    status: int
    point: Point
    def __init__(self, minute: _Optional[int] = ..., host: _Optional[str] = ..., method: _Optional[str] = ..., route: _Optional[str] = ..., status: _Optional[int] = ..., point: _Optional[_Union[Point, _Mapping]] = ...) -> None: ...

class Malformed(_message.Message):
    __slots__ = ("has_minute", "minute", "count")
    HAS_MINUTE_FIELD_NUMBER: _ClassVar[int]
    MINUTE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    has_minute: bool
    minute: int
    count: int
    def __init__(self, has_minute: _Optional[bool] = ..., minute: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class Position(_message.Message):
    __slots__ = ("source_id", "start", "end")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    start: int
    end: int
    def __init__(self, source_id: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class PackedPoints(_message.Message):
    __slots__ = ("hosts", "methods", "routes", "statuses", "series", "minutes", "counts", "errors", "client_errors", "bytes", "latency_counts", "latency_sums", "latency_maxes", "firsts", "lasts", "hist_sizes", "hists")
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    MINUTES_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ERRORS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    LATENCY_COUNTS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_SUMS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MAXES_FIELD_NUMBER: _ClassVar[int]
    FIRSTS_FIELD_NUMBER: _ClassVar[int]
    LASTS_FIELD_NUMBER: _ClassVar[int]
    HIST_SIZES_FIELD_NUMBER: _ClassVar[int]
    HISTS_FIELD_NUMBER: _ClassVar[int]
    hosts: _containers.RepeatedScalarFieldContainer[str]
    methods: _containers.RepeatedScalarFieldContainer[str]
    routes: _containers.RepeatedScalarFieldContainer[str]
    statuses: _containers.RepeatedScalarFieldContainer[int]
    series: _containers.RepeatedScalarFieldContainer[int]
    minutes: _containers.RepeatedScalarFieldContainer[int]
    counts: _containers.RepeatedScalarFieldContainer[int]
    errors: _containers.RepeatedScalarFieldContainer[int]
    client_errors: _containers.RepeatedScalarFieldContainer[int]
    bytes: _containers.RepeatedScalarFieldContainer[int]
    latency_counts: _containers.RepeatedScalarFieldContainer[int]
    latency_sums: _containers.RepeatedScalarFieldContainer[float]
    latency_maxes: _containers.RepeatedScalarFieldContainer[float]
    firsts: _containers.RepeatedScalarFieldContainer[float]
    lasts: _containers.RepeatedScalarFieldContainer[float]
    hist_sizes: _containers.RepeatedScalarFieldContainer[int]
    hists: bytes
    def __init__(self, hosts: _Optional[_Iterable[str]] = ..., methods: _Optional[_Iterable[str]] = ..., routes: _Optional[_Iterable[str]] = ..., statuses: _Optional[_Iterable[int]] = ..., series: _Optional[_Iterable[int]] = ..., minutes: _Optional[_Iterable[int]] = ..., counts: _Optional[_Iterable[int]] = ..., errors: _Optional[_Iterable[int]] = ..., client_errors: _Optional[_Iterable[int]] = ..., bytes: _Optional[_Iterable[int]] = ..., latency_counts: _Optional[_Iterable[int]] = ..., latency_sums: _Optional[_Iterable[float]] = ..., latency_maxes: _Optional[_Iterable[float]] = ..., firsts: _Optional[_Iterable[float]] = ..., lasts: _Optional[_Iterable[float]] = ..., hist_sizes: _Optional[_Iterable[int]] = ..., hists: _Optional[bytes] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("source", "position", "points", "malformed", "samples", "lines", "packed")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    MALFORMED_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    PACKED_FIELD_NUMBER: _ClassVar[int]
    source: str
    position: Position
    points: _containers.RepeatedCompositeFieldContainer[KeyedPoint]
    malformed: _containers.RepeatedCompositeFieldContainer[Malformed]
    samples: _containers.RepeatedScalarFieldContainer[str]
    lines: int
    packed: PackedPoints
    def __init__(self, source: _Optional[str] = ..., position: _Optional[_Union[Position, _Mapping]] = ..., points: _Optional[_Iterable[_Union[KeyedPoint, _Mapping]]] = ..., malformed: _Optional[_Iterable[_Union[Malformed, _Mapping]]] = ..., samples: _Optional[_Iterable[str]] = ..., lines: _Optional[int] = ..., packed: _Optional[_Union[PackedPoints, _Mapping]] = ...) -> None: ...

class WriteReply(_message.Message):
    __slots__ = ("batch_id", "applied")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    applied: bool
    def __init__(self, batch_id: _Optional[str] = ..., applied: _Optional[bool] = ...) -> None: ...

class CommittedEndRequest(_message.Message):
    __slots__ = ("source_id", "start")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    start: int
    def __init__(self, source_id: _Optional[str] = ..., start: _Optional[int] = ...) -> None: ...

class CommittedEndReply(_message.Message):
    __slots__ = ("found", "end")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    found: bool
    end: int
    def __init__(self, found: _Optional[bool] = ..., end: _Optional[int] = ...) -> None: ...

class RangeQuery(_message.Message):
    __slots__ = ("start", "end", "sources", "hosts", "route_glob", "statuses", "methods", "group_by", "step_minutes", "without_histograms")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    ROUTE_GLOB_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    STEP_MINUTES_FIELD_NUMBER: _ClassVar[int]
    WITHOUT_HISTOGRAMS_FIELD_NUMBER: _ClassVar[int]
    start: float
    end: float
    sources: _containers.RepeatedScalarFieldContainer[str]
    hosts: _containers.RepeatedScalarFieldContainer[str]
    route_glob: str
    statuses: _containers.RepeatedScalarFieldContainer[str]
    methods: _containers.RepeatedScalarFieldContainer[str]
    group_by: str
    step_minutes: int
    without_histograms: bool
    def __init__(self, start: _Optional[float] = ..., end: _Optional[float] = ..., sources: _Optional[_Iterable[str]] = ..., hosts: _Optional[_Iterable[str]] = ..., route_glob: _Optional[str] = ..., statuses: _Optional[_Iterable[str]] = ..., methods: _Optional[_Iterable[str]] = ..., group_by: _Optional[str] = ..., step_minutes: _Optional[int] = ..., without_histograms: _Optional[bool] = ...) -> None: ...

class Row(_message.Message):
    __slots__ = ("key", "bucket", "point", "malformed")
    KEY_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    POINT_FIELD_NUMBER: _ClassVar[int]
    MALFORMED_FIELD_NUMBER: _ClassVar[int]
    key: str
    bucket: int
    point: Point
    malformed: int
    def __init__(self, key: _Optional[str] = ..., bucket: _Optional[int] = ..., point: _Optional[_Union[Point, _Mapping]] = ..., malformed: _Optional[int] = ...) -> None: ...

class QueryReply(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[Row]
    def __init__(self, rows: _Optional[_Iterable[_Union[Row, _Mapping]]] = ...) -> None: ...

class Coverage(_message.Message):
    __slots__ = ("first", "last", "points", "batches", "hourly_before")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    HOURLY_BEFORE_FIELD_NUMBER: _ClassVar[int]
    first: float
    last: float
    points: int
    batches: int
    hourly_before: float
    def __init__(self, first: _Optional[float] = ..., last: _Optional[float] = ..., points: _Optional[int] = ..., batches: _Optional[int] = ..., hourly_before: _Optional[float] = ...) -> None: ...

class MinuteUpdate(_message.Message):
    __slots__ = ("minutes", "rows")
    MINUTES_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    minutes: _containers.RepeatedScalarFieldContainer[int]
    rows: _containers.RepeatedCompositeFieldContainer[Row]
    def __init__(self, minutes: _Optional[_Iterable[int]] = ..., rows: _Optional[_Iterable[_Union[Row, _Mapping]]] = ...) -> None: ...
