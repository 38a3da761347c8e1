"""Storage over REST: historical queries (`GET /v1/query`, `GET /v1/coverage`) for
analytics, and the matching httpx client. Writes go over gRPC."""

import asyncio
import shutil
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI
from fastapi import Query as Param

from logctl.auth import TokenBook
from logctl.services.storage import StorageService
from logctl.store.base import Coverage, Query, Row
from logctl.transport import wire
from logctl.transport.rest.app import create_app
from logctl.transport.rest.client import RestClient
from logctl.transport.rest.common import needs

Many = Annotated[list[str] | None, Param()]


def query_from_params(start: float | None, end: float | None, source: list[str] | None,
                      host: list[str] | None, route: str | None, status: list[str] | None,
                      method: list[str] | None, by: str | None, step: int | None,
                      histograms: bool = True) -> Query:
    return Query(start=start, end=end, sources=tuple(source or ()), hosts=tuple(host or ()),
                 route_glob=route, statuses=tuple(status or ()), methods=tuple(method or ()),
                 group_by=by, step_minutes=step, histograms=histograms)


def query_to_params(query: Query) -> dict[str, Any]:
    params: dict[str, Any] = {"start": query.start, "end": query.end, "source": query.sources,
                              "host": query.hosts, "route": query.route_glob,
                              "status": query.statuses, "method": query.methods,
                              "by": query.group_by, "step": query.step_minutes,
                              "histograms": None if query.histograms else "false"}
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()
            if v not in (None, (), [])}


def disk_figures(db_path: Path) -> dict[str, Any]:
    """The database's size on disk (with its WAL) and the free space where it lives."""
    size = sum(p.stat().st_size for p in (db_path, db_path.with_name(db_path.name + "-wal"))
               if p.exists())
    usage = shutil.disk_usage(db_path.parent if db_path.parent.exists() else Path.cwd())
    return {"db_bytes": size, "disk_free_bytes": usage.free,
            "disk_free_pct": round(usage.free / usage.total * 100, 3) if usage.total else 0.0}


def storage_app(service: StorageService, tokens: TokenBook,
                db_path: Path | None = None) -> FastAPI:
    """The storage REST app over a running storage service; reads need `read`. `db_path`,
    when it is a file, adds its size and the disk's free space to health."""
    app = create_app("storage", tokens, lambda: {
        "writes": service.writes, "replays": service.replays, "watchers": service.watchers,
        **service.figures(), **(disk_figures(db_path) if db_path else {})})

    @app.get("/v1/query", summary="Merged rows for a range, grouped and/or bucketed",
             dependencies=needs("read"))
    async def get_query(start: float | None = None, end: float | None = None,
                        source: Many = None, host: Many = None, route: str | None = None,
                        status: Many = None, method: Many = None, by: str | None = None,
                        step: Annotated[int | None, Param(ge=1, le=525_600)] = None,
                        histograms: bool = True) -> dict[str, Any]:
        query = query_from_params(start, end, source, host, route, status, method, by, step,
                                  histograms)
        rows = await asyncio.to_thread(service.query, query)
        return {"rows": [wire.row_to_json(row) for row in rows]}

    @app.get("/v1/coverage", summary="First and last stored request under the filters",
             dependencies=needs("read"))
    async def get_coverage(source: Many = None, host: Many = None, route: str | None = None,
                           status: Many = None, method: Many = None) -> dict[str, Any]:
        query = query_from_params(None, None, source, host, route, status, method, None, None)
        coverage = await asyncio.to_thread(service.coverage, query)
        return {"first": coverage.first, "last": coverage.last, "points": coverage.points,
                "batches": coverage.batches, "hourly_before": coverage.hourly_before}

    return app


class RestStorageClient(RestClient):
    """The read side of storage over REST (QueryClient)."""

    peer = "storage"

    def query(self, query: Query) -> list[Row]:
        body = self.get("/v1/query", query_to_params(query))
        return [wire.row_from_json(row) for row in body["rows"]]

    def coverage(self, query: Query) -> Coverage:
        params = query_to_params(Query(sources=query.sources, hosts=query.hosts,
                                       route_glob=query.route_glob, statuses=query.statuses,
                                       methods=query.methods))
        body = self.get("/v1/coverage", params)
        return Coverage(body["first"], body["last"], body["points"], body["batches"],
                        body.get("hourly_before"))

