"""The Prometheus HTTP query API on the analytics daemon, so Grafana's built-in Prometheus
data source and promtool read logctl with no plugin: `/api/v1/query`, `query_range`,
`labels`, `label/<name>/values`, `series`, `metadata` and `status/buildinfo`, by GET or
form-encoded POST, in Prometheus's envelope (`status`, `data`, `errorType`, `error`).
Tokens as on every endpoint: Bearer, or Basic with the token as the password."""

import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import promql_parser as pq
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from logctl import __version__
from logctl.errors import LogctlError, PeerError, StoreError, UsageError
from logctl.services.promql import Evaluator, Execution, Result, Scalar
from logctl.services.promseries import metadata
from logctl.transport.rest.common import ApiError, authorize, read_body

# Grafana reads the version to pick features; 2.45 has everything it asks of this subset.
PROMETHEUS_VERSION = "2.45.0"
MAX_FORM = 1024 * 1024
Params = list[tuple[str, str]]
Handler = Callable[[Params, dict[str, str]], Awaitable[Any]]  # params, path params


class BadData(UsageError):
    """A missing or malformed parameter (400 bad_data)."""


def envelope_error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"status": "error", "errorType": kind, "error": message},
                        status_code=status)


def failure(exc: Exception) -> JSONResponse:
    """An error in Prometheus's envelope: 400 bad_data, 422 execution, 503 unavailable."""
    if isinstance(exc, ApiError):
        return envelope_error(exc.status, "unauthorized" if exc.status == 401 else
                              "forbidden", str(exc))
    if isinstance(exc, Execution):  # Unsupported among them
        return envelope_error(422, "execution", str(exc))
    if isinstance(exc, UsageError):
        return envelope_error(400, "bad_data", str(exc))
    if isinstance(exc, PeerError | StoreError):
        return envelope_error(503, "unavailable", str(exc))
    return envelope_error(500, "internal", str(exc))


async def request_params(request: Request) -> Params:
    """Query parameters, and a form-encoded body's (Grafana POSTs its queries)."""
    pairs = list(request.query_params.multi_items())
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method == "POST" and kind == "application/x-www-form-urlencoded":
        body = await read_body(request, MAX_FORM)
        pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return pairs


def one(params: Params, name: str) -> str | None:
    values = [value for key, value in params if key == name]
    return values[-1] if values else None


def required(params: Params, name: str) -> str:
    value = one(params, name)
    if value is None or value == "":
        raise BadData(f'invalid parameter "{name}": missing')
    return value


def matches(params: Params) -> list[str]:
    """The series selectors of `match[]` (or `match`, as some clients send it)."""
    return [value for key, value in params if key in ("match[]", "match")]


def parse_time(text: str, name: str) -> float:
    """A Unix timestamp (seconds, fractions allowed) or an RFC 3339 time."""
    return _finite(text, name, "timestamp", lambda: datetime.fromisoformat(
        text.replace("Z", "+00:00")).timestamp())


def parse_step(text: str) -> float:
    """A step in seconds ("15", "0.5") or a Prometheus duration ("15s", "1m30s")."""
    return _finite(text, "step", "duration",
                   lambda: pq.parse_duration(text).total_seconds())


def _finite(text: str, name: str, kind: str, otherwise: Callable[[], float]) -> float:
    """A parameter as a number, or else as `otherwise` reads it; BadData naming the
    parameter unless one of them gives a finite value."""
    try:
        value = float(text)
    except ValueError:
        try:
            value = otherwise()
        except ValueError:
            value = math.nan
    if not math.isfinite(value):
        raise BadData(f'invalid parameter "{name}": cannot parse "{text}" to a valid {kind}')
    return value


def optional_time(params: Params, name: str) -> float | None:
    text = one(params, name)
    return None if text in (None, "") else parse_time(text, name)


def sample_value(value: float) -> str:
    """A sample as Prometheus writes it: shortest decimal, no exponent, NaN and ±Inf."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return format(Decimal(repr(value)), "f")


def stamp(t: float) -> float | int:
    return int(t) if float(t).is_integer() else round(t, 3)


def instant_data(result: Result, at: float) -> dict[str, Any]:
    if isinstance(result, Scalar):
        return {"resultType": "scalar", "result": [stamp(at), sample_value(result.values[0])]}
    return {"resultType": "vector", "result": [
        {"metric": dict(labels), "value": [stamp(at), sample_value(values[0])]}
        for labels, values in sorted(result.series.items()) if values[0] is not None]}


def range_data(result: Result, times: list[float]) -> dict[str, Any]:
    series = ({(): list[float | None](result.values)} if isinstance(result, Scalar)
              else result.series)
    return {"resultType": "matrix", "result": [
        {"metric": dict(labels), "values": [[stamp(t), sample_value(v)]
                                            for t, v in zip(times, values, strict=True)
                                            if v is not None]}
        for labels, values in sorted(series.items()) if any(v is not None for v in values)]}


def prometheus_router(evaluator: Evaluator) -> APIRouter:
    """The Prometheus query API over an evaluator; every endpoint needs a `read` token."""
    router = APIRouter(prefix="/api/v1", include_in_schema=False)

    def endpoint(path: str, handler: Handler) -> None:
        async def serve(request: Request) -> JSONResponse:
            try:
                authorize(request, "read")
                data = await handler(await request_params(request), request.path_params)
            except (LogctlError, ApiError) as exc:
                return failure(exc)
            return JSONResponse({"status": "success", "data": data})
        router.add_api_route(path, serve, methods=["GET", "POST"])

    async def query(params: Params, _: dict[str, str]) -> Any:
        text = required(params, "query")
        given = optional_time(params, "time")
        at = time.time() if given is None else given
        result = await run_in_threadpool(evaluator.instant, text, at)
        return instant_data(result, at)

    async def query_range(params: Params, _: dict[str, str]) -> Any:
        text = required(params, "query")
        start = parse_time(required(params, "start"), "start")
        end = parse_time(required(params, "end"), "end")
        step = parse_step(required(params, "step"))
        result = await run_in_threadpool(evaluator.range, text, start, end, step)
        count = int((end - start) // step) + 1
        return range_data(result, [start + i * step for i in range(count)])

    async def series_of(params: Params, default: list[str] | None = None
                        ) -> list[dict[str, str]]:
        selectors = matches(params) or default
        if not selectors:
            raise BadData("no match[] parameter provided")
        return await run_in_threadpool(evaluator.series, selectors,
                                       optional_time(params, "start"),
                                       optional_time(params, "end"))

    everything = ['{__name__=~".+"}']

    async def series(params: Params, _: dict[str, str]) -> Any:
        return await series_of(params)

    async def labels(params: Params, _: dict[str, str]) -> Any:
        return sorted({name for s in await series_of(params, everything) for name in s})

    async def label_values(params: Params, path: dict[str, str]) -> Any:
        found = await series_of(params, everything)
        return sorted({s[path["name"]] for s in found if path["name"] in s})

    async def buildinfo(_: Params, __: dict[str, str]) -> Any:
        return {"version": PROMETHEUS_VERSION, "revision": f"logctl-{__version__}",
                "branch": "logctl", "buildUser": "logctl", "buildDate": "",
                "goVersion": "none (logctl, Python)"}

    async def metadata_of(params: Params, _: dict[str, str]) -> Any:
        wanted = one(params, "metric")
        return {name: info for name, info in metadata().items()
                if wanted in (None, "", name)}

    endpoint("/query", query)
    endpoint("/query_range", query_range)
    endpoint("/series", series)
    endpoint("/labels", labels)
    endpoint("/status/buildinfo", buildinfo)
    endpoint("/metadata", metadata_of)
    endpoint("/label/{name}/values", label_values)
    return router
