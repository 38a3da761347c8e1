"""The `logctl` command: parses options, calls the library, renders. No logic lives here."""

import contextlib
import functools
import glob
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from logctl import __version__, collector, render
from logctl.auth import ADMIN_FILE, ROLES, TokenBook, ensure_token
from logctl.config import SERVICES, Settings, load_settings
from logctl.connect import (
    AnalyticsClient,
    Followed,
    Follower,
    IngestClient,
    LocalIngest,
    connect_analytics,
    connect_ingest,
)
from logctl.errors import InputError, LogctlError, UsageError
from logctl.formats import NAMES, make_format
from logctl.formats.fields import parse_overrides
from logctl.metrics.window import iso
from logctl.services.analytics import MetricsRequest
from logctl.services.ingest import IngestReport
from logctl.sources import SourceFile, expand_paths
from logctl.store import sqlite_path
from logctl.store.base import DIMENSIONS, grouping
from logctl.synthetic import write_log

# The daemon, client and dashboard modules (FastAPI, uvicorn, gRPC, httpx) are imported by
# the commands that use them: importing them all made every command, `logctl ingest` of a
# small file included, start a second later.

app = typer.Typer(
    help="Turn raw log files into metrics you can query and watch.\n\n"
         "Embedded by default: `logctl ingest access.log`, then `logctl metrics --since 1h`.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
# Without markup: what they print holds paths, names and messages, where rich would read
# "[x]" as a style and drop it (or fail on "[/]").
out = Console(soft_wrap=True, markup=False)
err = Console(stderr=True, soft_wrap=True, markup=False)

HomeOpt = Annotated[Path | None, typer.Option("--home", envvar=None, show_default=False,
                    help="Data directory (default: LOGCTL_HOME or the platform data dir).")]
DbOpt = Annotated[Path | None, typer.Option("--db", show_default=False,
                  help="Metrics database file (default: logctl.db in the data directory).")]
TokenOpt = Annotated[str | None, typer.Option(
    "--token", show_default=False,
    help="Token for --remote (default: LOGCTL_TOKEN, else the local admin token).")]
RemoteOpt = Annotated[str | None, typer.Option(
    "--remote", show_default=False,
    help="Use daemons at this URL (default: LOGCTL_REMOTE). Without a port, the service's "
         "configured port is used. metrics also takes grpc://HOST[:PORT].")]
StoreOpt = Annotated[str | None, typer.Option(
    "--store", show_default=False, help="Metrics store: postgresql://… URL, sqlite:PATH or a "
    "path (default: LOGCTL_STORE, else the --db file).")]
SinceOpt = Annotated[str | None, typer.Option(
    help="Start: a duration ago (15m, 1h, 7d) or an ISO time. Default: all data.",
    show_default=False)]
UntilOpt = Annotated[str | None, typer.Option(
    help="End (exclusive), same forms as --since. Default: now.", show_default=False)]
SourceOpt = Annotated[list[str] | None, typer.Option(help="Only these sources.")]
HostOpt = Annotated[list[str] | None, typer.Option(help="Only these hosts.")]
RouteOpt = Annotated[str | None, typer.Option(
    help="Only routes matching this glob (/api/*).", show_default=False)]
StatusOpt = Annotated[list[str] | None, typer.Option(
    help="Only these statuses: 404, 5xx, 4xx,500.")]
MethodOpt = Annotated[list[str] | None, typer.Option(help="Only these methods.")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", show_default=False,
                      help="Config file (default: ./logctl.toml, then one in the data dir).")]


def reports_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Turn logctl errors into one clear line and the documented exit code."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except LogctlError as exc:
            err.print(Text("error:", style="bold red"), str(exc), highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted: what was stored so far is kept; run again to resume")
            raise typer.Exit(130) from None
    return wrapper


def settings_from(home: Path | None, db: Path | None, config: Path | None,
                  **flags: Any) -> Settings:
    """Settings from every layer, flags last."""
    return load_settings({"home": home, "db": db, **flags}, config=config)


@app.command()
@reports_errors
def ingest(
    paths: Annotated[list[str], typer.Argument(
        help="Log files, globs, directories (walked), .gz/.zst files, or - for stdin.")],
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", help=f"Log format: {', '.join(NAMES)}. Default: auto (detected per "
        "file from its first lines).", show_default=False)] = None,
    source: Annotated[str | None, typer.Option(
        help="Source name for the series (default: the file name without rotation suffix).",
        show_default=False)] = None,
    rt_unit: Annotated[str | None, typer.Option(
        "--rt-unit", help="Unit of a response time after the user agent: auto (decimal = s, "
        "integer = us), s, ms or us.", show_default=False)] = None,
    field: Annotated[list[str] | None, typer.Option(
        "--field", help="For jsonl/logfmt/regex: NAME=KEY, e.g. status=code, "
        "latency:s=took. Repeatable.", show_default=False)] = None,
    workers: Annotated[int | None, typer.Option(
        help="Parsing processes (default: one per core).", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    follow: Annotated[bool, typer.Option(
        "--follow", "-F", help="Keep reading what is appended, like tail -F: rotated and "
        "truncated files are handled, new files under a directory picked up; Ctrl-C stops "
        "(what was read is kept, the rest is read by the next run).")] = False,
    remote: RemoteOpt = None, token: TokenOpt = None,
    home: HomeOpt = None, db: DbOpt = None, config: ConfigOpt = None, store: StoreOpt = None,
) -> None:
    """Read logs into the metrics database. Only what is new since the last run is read.

    With --remote (or LOGCTL_REMOTE), files are uploaded to an ingest daemon instead."""
    signal.signal(signal.SIGTERM, _terminated)
    overrides = parse_overrides(field) if field else None
    settings = settings_from(home, db, config, format=fmt, rt_unit=rt_unit, fields=overrides,
                             workers=workers, remote=remote, store=store, token=token)
    if settings.format != "auto":
        make_format(settings.format, settings.format_options(time.time()))
    if follow:
        _follow(settings, paths, as_json)
        return
    client = connect_ingest(settings)
    sources, warnings = expand_paths(paths, source)
    for warning in warnings:
        err.print(Text("warning:", style="yellow"), warning, highlight=False)
    report = _with_progress(client, sources, quiet=as_json)
    where, target = client.where
    if as_json:
        out.print_json(json.dumps({where: target, **report.as_json()}))
        return
    for warning in report.warnings:
        err.print(Text("warning:", style="yellow"), warning, highlight=False)
    for file in report.files:
        err.print(f"{file.label}: format {file.format}", highlight=False)
    rate = report.lines / report.seconds if report.seconds else 0
    out.print(
        f"ingested {report.requests:,} requests from {report.lines:,} lines "
        f"({report.malformed:,} malformed) in {len(report.files)} file(s), "
        f"{render.human_bytes(report.bytes)} in {report.seconds:.2f}s ({rate:,.0f} lines/s) "
        f"{'into' if where == 'db' else 'via'} {target}", highlight=False)


def _follow(settings: Settings, paths: list[str], as_json: bool) -> None:
    """`ingest --follow`: the files and directories named, followed until Ctrl-C."""
    if settings.remote:
        raise UsageError("--follow reads local files into the local store: to have a "
                         "daemon follow them, use `logctl serve ingest --watch PATH`")
    if "-" in paths:
        raise UsageError("--follow takes files and directories; stdin is read to its end "
                         "without it")
    roots = follow_roots(paths)
    started = time.monotonic()
    follower = Follower(settings)
    shown = "following " + ", ".join(str(root) for root in roots) + " (Ctrl-C to stop)"
    if not as_json:
        err.print(shown, highlight=False)
    live = err.is_terminal and not as_json
    with Live(console=err, transient=True, auto_refresh=False) if live else \
            contextlib.nullcontext() as view:
        def progress(now: Followed) -> None:
            if view is not None:
                view.update(f"{now.requests:,} requests from {now.lines:,} lines",
                            refresh=True)
        done = follower.follow(roots, threading.Event(), progress)
    seconds = time.monotonic() - started
    if as_json:
        out.print_json(json.dumps({"db": follower.where[1], "lines": done.lines,
                                   "requests": done.requests, "seconds": round(seconds, 3)}))
        return
    out.print(f"followed {len(roots)} path(s) for {seconds:.0f}s: ingested "
              f"{done.requests:,} requests from {done.lines:,} lines into {follower.where[1]}",
              highlight=False)


def follow_roots(paths: list[str]) -> list[Path]:
    """The files and directories to follow: each path as given, globs expanded; a path
    that does not exist is a clear error."""
    roots: list[Path] = []
    for raw in (os.path.expanduser(p) for p in paths):
        found = [Path(p) for p in sorted(glob.glob(raw, recursive=True))] \
            if glob.has_magic(raw) else [Path(raw)] if Path(raw).exists() else []
        if not found:
            raise InputError(f"no such file or directory: {raw}" if not glob.has_magic(raw)
                             else f"no files match {raw}")
        roots += found
    return [root.resolve() for root in roots]


def _with_progress(client: IngestClient, sources: list[SourceFile],
                   quiet: bool) -> IngestReport:
    """Ingest with a progress bar on a terminal (bytes, and lines stored when local)."""
    if quiet or not err.is_terminal:
        return client.ingest(sources)
    total = sum(s.path.stat().st_size for s in sources if s.path)
    columns = (TextColumn(f"[bold]{client.verb}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TextColumn("{task.fields[lines]:,} lines"),
               TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(client.verb, total=total or None, lines=0)

        def advance(nbytes: int, lines: int) -> None:
            bar.update(task, advance=nbytes,
                       lines=bar.tasks[0].fields["lines"] + lines)

        return client.ingest(sources, advance)


@app.command()
@reports_errors
def metrics(
    since: SinceOpt = None, until: UntilOpt = None,
    by: Annotated[str | None, typer.Option(
        help=f"Group by one of {', '.join(DIMENSIONS)}, or by two: route,status.",
        show_default=False)] = None,
    step: Annotated[str | None, typer.Option(
        help="Time series with this bucket (1m, 5m, 1h, 1d).", show_default=False)] = None,
    top: Annotated[int | None, typer.Option(
        help="Keep the N largest groups.", min=1, show_default=False)] = None,
    output: Annotated[str, typer.Option(
        "--format", "-o", help="table, json, csv or markdown.")] = "table",
    sort: Annotated[str | None, typer.Option(
        help=f"Order groups by a column: {', '.join(render.SORTS)} (the key ascending, "
             "figures largest first). Default: most requests first.",
        show_default=False)] = None,
    source: SourceOpt = None, host: HostOpt = None, route: RouteOpt = None,
    status: StatusOpt = None, method: MethodOpt = None,
    follow: Annotated[bool, typer.Option(
        "--follow", "--watch", help="Redraw the table in place every --interval seconds, "
        "like watch(1); relative times (--since 15m) move with the clock. Ctrl-C stops.")
    ] = False,
    interval: Annotated[float, typer.Option(
        help="Seconds between redraws with --follow.", min=0.2)] = 2.0,
    remote: RemoteOpt = None, token: TokenOpt = None,
    home: HomeOpt = None, db: DbOpt = None, config: ConfigOpt = None, store: StoreOpt = None,
) -> None:
    """Query stored metrics: totals, error rate, latency quantiles, by group or over time.

    With --remote (or LOGCTL_REMOTE), the analytics daemon answers."""
    if output not in ("table", "json", "csv", "markdown"):
        raise UsageError(f"unknown output format {output!r}: use table, json, csv or markdown")
    if sort is not None and sort not in render.SORTS:
        raise UsageError(f"cannot sort by {sort!r}: use one of {', '.join(render.SORTS)}")
    if follow and output != "table":
        raise UsageError("--follow redraws a table: leave out --format")
    settings = settings_from(home, db, config, remote=remote, store=store, token=token)
    request = MetricsRequest(since, until, by, step, top, source or (), host or (), route,
                             status or (), method or ())
    if follow:
        _watch_metrics(connect_analytics(settings), request, sort, interval)
        return
    answer = connect_analytics(settings).answer(request)
    body, empty, dims = answer.body, answer.empty, grouping(by)
    if answer.note:
        err.print(answer.note, highlight=False)
    if sort is not None:
        body = render.sorted_groups(body, sort)
    if output == "json":
        out.print(render.to_json(body), highlight=False, soft_wrap=True)
    elif output == "csv":
        sys.stdout.write(render.to_csv(body, dims))
    elif output == "markdown":
        sys.stdout.write(render.to_markdown(body, dims))
    elif not empty:
        render.print_table(out, body, dims)


def _watch_metrics(client: AnalyticsClient, request: MetricsRequest, sort: str | None,
                   interval: float) -> None:
    """`metrics --follow`: ask again every `interval` seconds and redraw in place. A failed
    answer (a daemon restarting) is shown in the frame and asked again, not fatal."""
    dims = grouping(request.by)

    def frame() -> Group:
        heading = Text(f"logctl metrics · {iso(time.time())} · every {interval:g}s · "
                       "Ctrl-C to stop", style="bold")
        try:
            answer = client.answer(request)
        except LogctlError as exc:
            return Group(heading, Text(f"error: {exc}", style="red"))
        body = render.sorted_groups(answer.body, sort) if sort else answer.body
        shown = Text(answer.note) if answer.empty else render.table_for(body, dims)
        return Group(heading, *([Text(answer.note)] if answer.note and not answer.empty
                                else []), shown)

    try:
        with Live(frame(), console=out, auto_refresh=False) as view:
            while True:
                time.sleep(interval)
                view.update(frame(), refresh=True)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@app.command()
@reports_errors
def report(
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="The HTML file to write (replaced if it exists).")],
    since: SinceOpt = None, until: UntilOpt = None,
    source: SourceOpt = None, host: HostOpt = None, route: RouteOpt = None,
    status: StatusOpt = None, method: MethodOpt = None,
    remote: RemoteOpt = None, token: TokenOpt = None,
    home: HomeOpt = None, db: DbOpt = None, config: ConfigOpt = None, store: StoreOpt = None,
) -> None:
    """Write one self-contained HTML report of a range: totals, requests and 5xx rate over
    time, latency p50/p95/p99, top routes, statuses, hosts, sources, the slowest routes
    and malformed samples. No network, no CDN: the file opens anywhere, and reads with
    JavaScript off (charts are inline SVG, figures are tables)."""
    from logctl.report import build
    from logctl.report.page import write_page

    settings = settings_from(home, db, config, remote=remote, store=store, token=token)
    request = MetricsRequest(since, until, None, None, None, source or (), host or (), route,
                             status or (), method or ())
    samples = None if settings.remote else functools.partial(_samples, settings, source)
    built = build(connect_analytics(settings), request, time.time(), samples)
    page = write_page(built)
    partial = output.with_name(output.name + ".partial")
    try:
        partial.write_text(page, encoding="utf-8")
        partial.replace(output)
    except OSError as exc:
        raise InputError(f"cannot write {output}: {exc.strerror or exc}") from None
    out.print(f"wrote {output} ({render.human_bytes(len(page.encode()))}): "
              f"{built.totals['requests']:,} requests, {built.range_text()}", highlight=False)


def _samples(settings: Settings, sources: list[str] | None) -> list[tuple[str, str]]:
    """The malformed-line samples the local store keeps, of the sources asked for."""
    from logctl.store import open_store

    metrics_store = open_store(settings.store_target, route_cap=settings.route_cap)
    try:
        kept = metrics_store.samples()
    finally:
        metrics_store.close()
    return [(s, line) for s, line in kept if not sources or s in sources]


@app.command()
@reports_errors
def serve(
    service: Annotated[str | None, typer.Argument(
        help=f"One service: {', '.join(SERVICES)}. Omit with --all.", show_default=False)
    ] = None,
    all_services: Annotated[bool, typer.Option("--all", help="Start all five services.")
                            ] = False,
    instances: Annotated[int, typer.Option(
        help="Processing instances (beyond those configured, ports go up by 100 from the "
             "first processing URL: 7402, 7502...).", min=1)
    ] = 1,
    storage_instances: Annotated[int, typer.Option(
        help="Storage instances sharing one store (ports go up by 100 from the first "
             "storage URL and gRPC address); use with a PostgreSQL --store.", min=1)] = 1,
    watch: Annotated[list[str] | None, typer.Option(
        help="Ingest: watch this directory or file (repeatable).", show_default=False)] = None,
    glob: Annotated[list[str] | None, typer.Option(
        help="Ingest: file-name globs taken from watched directories (repeatable; default "
             "*.log, *.log.gz, *.log.zst).", show_default=False)] = None,
    workers: Annotated[int | None, typer.Option(
        help="Processing: parsing processes per instance (default: one per core).",
        show_default=False)] = None,
    tls_cert: Annotated[str | None, typer.Option(
        help="TLS certificate (PEM) for REST and gRPC.", show_default=False)] = None,
    tls_key: Annotated[str | None, typer.Option(
        help="TLS private key (PEM).", show_default=False)] = None,
    tls_ca: Annotated[str | None, typer.Option(
        help="CA (PEM) the services trust when calling each other over TLS.",
        show_default=False)] = None,
    insecure: Annotated[bool, typer.Option(
        help="Allow a non-loopback address without TLS (tokens cross the network in clear)."
    )] = False,
    syslog_udp: Annotated[str | None, typer.Option(
        help="Ingest: receive syslog over UDP on HOST:PORT (best effort: UDP drops are "
             "counted, never acknowledged).", show_default=False)] = None,
    syslog_tcp: Annotated[str | None, typer.Option(
        help="Ingest: receive syslog over TCP on HOST:PORT (RFC 6587 octet counting or one "
             "message a line; TLS with --tls-cert).", show_default=False)] = None,
    instance: Annotated[int, typer.Option(hidden=True)] = 0,
    home: HomeOpt = None, db: DbOpt = None, config: ConfigOpt = None, store: StoreOpt = None,
) -> None:
    """Run services as daemons on their configured addresses (ingest 7401, processing 7402,
    storage 7403 and gRPC 7413, analytics 7404 and gRPC 7414, monitor 7405).

    `logctl serve --all` starts the whole pipeline as one process tree; `logctl serve
    storage` (etc.) starts one service, finding its peers in logctl.toml / LOGCTL_*."""
    if all_services == (service is not None):
        raise UsageError("name one service, or give --all")
    if service is not None and service not in SERVICES:
        raise UsageError(f"unknown service {service!r}: use one of {', '.join(SERVICES)}")
    settings = settings_from(home, db, config, workers=workers, store=store,
                             watch=tuple(watch) if watch else None,
                             globs=tuple(glob) if glob else None, tls_cert=tls_cert,
                             tls_key=tls_key, tls_ca=tls_ca, insecure=insecure or None,
                             syslog_udp=syslog_udp, syslog_tcp=syslog_tcp)
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise UsageError("TLS needs both --tls-cert and --tls-key")
    say = functools.partial(err.print, highlight=False)
    if instance == 0 and (all_services or instances > 1 or storage_instances > 1 or service):
        _, created = ensure_token(settings.home, ADMIN_FILE, "admin", "local admin")
        if created:
            say(f"created an admin token in {settings.home / ADMIN_FILE} (mode 0600); "
                "`logctl token create --role read` makes one to share")
    from logctl.transport.serve import serve_one
    from logctl.transport.supervisor import Supervisor, serve_flags

    if all_services or instances > 1 or storage_instances > 1:
        env = {"LOGCTL_WATCH": ",".join(settings.watch), "LOGCTL_GLOBS": ",".join(settings.globs)}
        flags = serve_flags({"--home": home, "--config": config, "--db": db,
                             "--workers": workers, "--store": store, "--tls-cert": tls_cert,
                             "--tls-key": tls_key, "--tls-ca": tls_ca,
                             "--syslog-udp": syslog_udp, "--syslog-tcp": syslog_tcp}, insecure)
        supervisor = Supervisor(settings, flags, env, say)
        code = supervisor.run(list(SERVICES) if all_services else [service or ""], instances,
                              storage_instances)
        raise typer.Exit(code)
    serve_one(service or "", settings, instance, lambda line: say(f"ready: {line}"))


token_app = typer.Typer(help="Manage the tokens daemons accept (roles: ingest, read, admin).",
                        rich_markup_mode="markdown",
                        no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
@reports_errors
def token_create(
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")],
    name: Annotated[str, typer.Option(help="What it is for (shown by list).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print {token, role} as JSON.")
                       ] = False,
    home: HomeOpt = None, config: ConfigOpt = None,
) -> None:
    """Create a token. It is shown once: only its hash is kept."""
    settings = settings_from(home, None, config)
    token = TokenBook(settings.home).create(role, name)
    if as_json:
        out.print_json(json.dumps({"token": token, "role": role}))
        return
    out.print(token, highlight=False)
    err.print(f"a {role} token; it will not be shown again", highlight=False)


@token_app.command("list")
@reports_errors
def token_list(home: HomeOpt = None, config: ConfigOpt = None) -> None:
    """List tokens (ids, roles, names; never secrets)."""
    settings = settings_from(home, None, config)
    records = TokenBook(settings.home).list()
    if not records:
        err.print("no tokens yet (`logctl serve` makes an admin token on first start)")
        return
    for record in records:
        out.print(f"{record.id}  {record.role:<6}  {iso(record.created)}  {record.name}",
                  highlight=False)


@token_app.command("revoke")
@reports_errors
def token_revoke(token_id: Annotated[str, typer.Argument(help="The id `list` shows.")],
                 home: HomeOpt = None, config: ConfigOpt = None) -> None:
    """Revoke a token: daemons refuse it within a second."""
    settings = settings_from(home, None, config)
    TokenBook(settings.home).revoke(token_id)
    err.print(f"revoked {token_id}", highlight=False)


sources_app = typer.Typer(help="The sources the metrics store holds.",
                          rich_markup_mode="markdown")
app.add_typer(sources_app, name="sources")


@sources_app.callback(invoke_without_command=True)
@reports_errors
def sources_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
    home: HomeOpt = None, db: DbOpt = None, config: ConfigOpt = None, store: StoreOpt = None,
) -> None:
    """List every source in the store: format, first and last request, requests, malformed
    share, and for files the checkpoint (offset read, size now, lag). Reads the store
    directly (--store for PostgreSQL), not through daemons."""
    if ctx.invoked_subcommand is not None:
        return
    from logctl import catalog
    from logctl.transport.local import local_state

    with local_state(settings_from(home, db, config, store=store)) as (metrics, books):
        entries = catalog.list_sources(metrics, books)
    if as_json:
        out.print(json.dumps([e.as_json() for e in entries], indent=2), highlight=False,
                  soft_wrap=True)
    elif not entries:
        err.print("no sources stored yet (run `logctl ingest FILE` first)")
    else:
        out.print(render.sources_table(entries))


@sources_app.command("rm")
@reports_errors
def sources_rm(
    name: Annotated[str, typer.Argument(help="The source's name, as `logctl sources` lists it.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")
                   ] = False,
    home: HomeOpt = None, db: DbOpt = None, config: ConfigOpt = None, store: StoreOpt = None,
) -> None:
    """Forget a source: its points, rollups, malformed counts and ledger are removed and its
    files' checkpoints rewound, so ingesting them again counts them afresh."""
    from logctl import catalog
    from logctl.transport.local import local_state

    with local_state(settings_from(home, db, config, store=store)) as (metrics, books):
        known = {entry.totals.name: entry for entry in catalog.list_sources(metrics, books)}
        if name not in known:
            raise UsageError(f"no source {name!r} in the store: `logctl sources` lists them")
        entry = known[name]
        if not yes and not typer.confirm(
                f"remove {entry.totals.requests:,} requests of {name!r} from the store?",
                err=True):
            raise typer.Exit(1)
        gone = catalog.forget_source(metrics, books, name)
    out.print(f"removed {name}: {gone.points:,} points, {entry.totals.requests:,} requests; "
              f"{gone.checkpoints} file checkpoint(s) rewound", highlight=False)


@app.command()
@reports_errors
def status(
    once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the data as JSON and exit.")
                       ] = False,
    remote: RemoteOpt = None, token: TokenOpt = None,
    home: HomeOpt = None, db: DbOpt = None, config: ConfigOpt = None,
) -> None:
    """Live dashboard of every service, the pipeline, the ingested traffic and alerts.

    Asks the monitor at `monitor_url` (or --remote); with no daemons running, says so and
    shows the embedded database instead. Ctrl-C leaves the live view."""
    from logctl.dashboard import terminal
    from logctl.transport.rest.client import remote_url
    from logctl.transport.status import collect

    settings = settings_from(home, db, config, remote=remote, token=token)
    url = remote_url(settings.remote, settings.monitor_url) if settings.remote \
        else settings.monitor_url

    def fetch() -> dict[str, Any]:
        return collect(settings, url, time.time())

    if as_json:
        out.print(json.dumps(fetch(), indent=2), highlight=False, soft_wrap=True)
    elif once or not out.is_terminal:
        out.print(terminal.frame(fetch()), soft_wrap=False)
    else:
        try:
            terminal.live(fetch, Console())
        except KeyboardInterrupt:
            raise typer.Exit(0) from None


@app.command()
@reports_errors
def bench(
    lines: Annotated[int, typer.Option(help="Lines to generate.", min=1)] = 1_000_000,
    keep: Annotated[Path | None, typer.Option(
        help="Write the generated log here (and keep it) instead of a temp dir.",
        show_default=False)] = None,
    fmt: Annotated[str, typer.Option("--format", help="combined or jsonl.")] = "combined",
    workers: Annotated[int | None, typer.Option(help="Parsing processes.")] = None,
) -> None:
    """Generate a synthetic log and time ingesting it into a fresh database."""
    if fmt not in ("combined", "jsonl"):
        raise UsageError(f"bench generates combined or jsonl, not {fmt!r}")
    with tempfile.TemporaryDirectory(prefix="logctl-bench-") as tmp:
        path = keep or Path(tmp) / f"bench.{'jsonl' if fmt == 'jsonl' else 'log'}"
        err.print(f"generating {lines:,} {fmt} lines into {path}", highlight=False)
        truth = write_log(str(path), lines, fmt=fmt)
        settings = load_settings({"home": tmp, "workers": workers}, env={})
        report = LocalIngest(settings).ingest(expand_paths([str(path)])[0])
        seconds = report.seconds
    ok = report.requests == truth.requests
    out.print(f"{report.lines:,} lines in {seconds:.2f}s: {report.lines / seconds:,.0f} lines/s, "
              f"{path.stat().st_size / seconds / 1e6 if keep else 0:,.1f} MB/s; totals "
              f"{'match' if ok else 'DO NOT match'} the generator", highlight=False)
    if not ok:
        raise typer.Exit(1)


@app.command()
@reports_errors
def migrate(
    source: Annotated[str, typer.Option(
        "--from", help="Store to copy from: sqlite:PATH, a path, or a postgresql:// URL.")],
    target: Annotated[str, typer.Option(
        "--to", help="Store to copy into (created if need be); same forms.")],
) -> None:
    """Copy stored metrics between stores. Re-running changes nothing."""
    from logctl.store import transfer

    columns = (TextColumn("[bold]migrate"), BarColumn(), MofNCompleteColumn(),
               TextColumn("points"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("migrate", total=transfer.count_points(source))
        report = transfer.copy_store(source, target, lambda n: bar.advance(task, n))
    if not report.copied:
        out.print(f"nothing to copy: {report.target} already holds all {report.batches:,} "
                  f"batches of {report.source}", highlight=False)
        return
    out.print(f"copied {report.points:,} points, {report.batches:,} batches, "
              f"{report.malformed:,} malformed counts and {report.samples:,} samples from "
              f"{report.source} to {report.target} in {report.seconds:.2f}s", highlight=False)


@app.command()
@reports_errors
def prune(
    before: Annotated[str | None, typer.Option(
        help="Drop the days before this time (a duration ago, 30d, or an ISO time) instead "
             "of the retention setting's cut-off.", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Say what would be removed and folded; change nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    home: HomeOpt = None, db: DbOpt = None, config: ConfigOpt = None, store: StoreOpt = None,
) -> None:
    """Apply retention and downsampling to the store: whole days older than `retention`
    (or --before) are dropped, minute points older than `downsample_after` are folded
    into hour points (every total stays exact), and the space is given back. The storage
    daemon does the same every `prune_interval` seconds when either setting is set."""
    from logctl.metrics.window import parse_moment
    from logctl.services.retention import Policy
    from logctl.services.retention import prune as apply_policy
    from logctl.store import open_store
    from logctl.transport.local import require_store

    settings = settings_from(home, db, config, store=store)
    now = time.time()
    cut = parse_moment(before, now) if before else None
    require_store(settings)
    path = sqlite_path(settings.store_target)
    size = database_bytes(path)
    metrics_store = open_store(settings.store_target, route_cap=settings.route_cap)
    try:
        policy = Policy.of(settings.retention, settings.downsample_after)
        report = apply_policy(metrics_store, policy, now, cut, dry_run)
    finally:
        metrics_store.close()
    if as_json:
        out.print_json(json.dumps({**report.as_json(), "bytes_before": size,
                                   "bytes_after": database_bytes(path)}))
        return
    for line in render.prune_lines(report):
        out.print(line, highlight=False)
    if path is not None and not dry_run:
        out.print(f"database {render.human_bytes(size or 0)} -> "
                  f"{render.human_bytes(database_bytes(path) or 0)}", highlight=False)


def database_bytes(path: Path | None) -> int | None:
    """A SQLite store's size on disk with its WAL (None for PostgreSQL)."""
    if path is None:
        return None
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal"))
               if p.exists())


def version_callback(value: bool) -> None:
    if value:
        out.print(f"logctl {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=version_callback,
                                          is_eager=True, help="Show the version.")] = False,
) -> None:
    """Turn raw log files into metrics you can query and watch."""


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM ends a command like Ctrl-C: workers are shut down and what is stored is
    kept, instead of leaving worker processes behind."""
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry point: the collector set for logctl's allocations once every
    command module is imported."""
    collector.relax()
    app()
