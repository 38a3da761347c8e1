"""The terminal dashboard (`logctl status`): one frame built from the status dict with
rich, redrawn in place by `rich.live.Live` until the operator presses Ctrl-C."""

import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from logctl.render import human_bytes

BARS = "▁▂▃▄▅▆▇█"
STATE_STYLES = {"ok": "green", "degraded": "yellow", "down": "bold red"}


def sparkline(values: Sequence[float | None], width: int = 30) -> str:
    """The last `width` values as block characters, scaled to their maximum; a missing
    value (a failed poll) is a gap."""
    tail = list(values)[-width:]
    top = max((v for v in tail if v is not None), default=0.0) or 1.0
    return "".join(" " if v is None else BARS[min(int(v / top * (len(BARS) - 1)), 7)]
                   for v in tail)


def _figure(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


class ServicesTable:
    """The services table, laid out for the width it is drawn at: on a narrow terminal
    the poll sparklines get shorter so every column still fits."""

    def __init__(self, services: list[dict[str, Any]]) -> None:
        self.services = services

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield services_table(self.services, 16 if options.max_width >= 100 else 6)


def services_table(services: list[dict[str, Any]], spark: int = 16) -> Table:
    """One row per service instance."""
    table = Table(title="Services", title_justify="left", expand=True)
    widest = max((len(s["name"]) for s in services), default=7)
    table.add_column("service", no_wrap=True, min_width=widest)
    table.add_column("state", min_width=8, max_width=24)  # the reason wraps when narrow
    for name in ("ms", "req/s", "5xx %", "CPU %", "RSS"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("polls", no_wrap=True)
    for s in services:
        state = Text(s["state"], style=STATE_STYLES.get(s["state"], "dim"))
        if s["reason"]:
            state.append(f" {s['reason']}", style="dim")
        table.add_row(s["name"], state, _figure(s["latency_ms"], ".1f"),
                      _figure(s["requests_per_s"], ".2f"),
                      "-" if s["error_rate"] is None else f"{s['error_rate']:.1%}",
                      _figure(s["cpu_percent"], ".1f"),
                      "-" if s["rss_bytes"] is None else human_bytes(s["rss_bytes"]),
                      sparkline(s["history"], spark))
    return table


def pipeline_panel(pipeline: dict[str, Any]) -> Panel:
    """Lines/s and lag now, with their recent history."""
    history = pipeline["history"]
    text = Text.assemble(
        ("lines/s ", "bold"), f"{pipeline['lines_per_s']:,.1f}  ",
        (sparkline([p["lines_per_s"] for p in history]), "cyan"), "\n",
        ("lag     ", "bold"), f"{human_bytes(pipeline['lag_bytes'])}, "
                              f"{pipeline['lag_s']:,.1f} s  ",
        (sparkline([p["lag_s"] for p in history]), "magenta"))
    for receiver in pipeline.get("receivers", []):
        text.append_text(Text.assemble(
            "\n", (f"{receiver['name']:<11}", "bold"),
            f"{receiver['records_per_s']:,.1f} records/s, "
            f"{human_bytes(int(receiver['bytes_per_s']))}/s  {receiver['records']:,} records, "
            f"{receiver['rejected']:,} rejected, {receiver['dropped']:,} dropped"))
    return Panel(text, title="Pipeline", title_align="left")


def traffic_panel(traffic: list[dict[str, Any]]) -> Panel:
    """The last minutes of the ingested logs: requests, 5xx rate and p95 per minute."""
    if not traffic:
        return Panel(Text("no requests in the last minutes", style="dim"),
                     title="Ingested logs", title_align="left")
    last = traffic[-1]
    text = Text.assemble(
        ("requests/min ", "bold"), f"{last['requests']:>9,}  ",
        (sparkline([m["requests"] for m in traffic], 15), "cyan"), "\n",
        ("5xx rate     ", "bold"), f"{last['error_rate']:>9.2%}  ",
        (sparkline([m["error_rate"] for m in traffic], 15), "red"), "\n",
        ("p95 ms       ", "bold"), f"{_figure(last['p95_ms'], ',.1f'):>9}  ",
        (sparkline([m["p95_ms"] for m in traffic], 15), "yellow"))
    return Panel(text, title=f"Ingested logs (last {len(traffic)} min, "
                             f"latest {last['t']})", title_align="left")


def alerts_panel(alerts: list[dict[str, Any]]) -> Panel:
    if not alerts:
        return Panel(Text("none firing", style="green"), title="Alerts", title_align="left")
    lines = Text("\n").join(Text.assemble((f"{a['rule']}: ", "bold red"), a["message"])
                            for a in alerts)
    return Panel(lines, title=f"Alerts ({len(alerts)} firing)", title_align="left")


def embedded_panel(info: dict[str, Any]) -> Panel:
    """The embedded database's state, shown when no daemon runs."""
    summary = info["summary"]
    if not info["exists"]:
        body = Text(f"{info['db']} does not exist yet (run `logctl ingest FILE`)")
    elif summary is None or not summary["requests"]:
        body = Text(f"{info['db']}: no requests stored")
    else:
        latency = summary["latency_ms"] or {}
        body = Text(f"{info['db']}\n{summary['requests']:,} requests, "
                    f"{summary['errors']:,} 5xx ({summary['error_rate']:.2%}), "
                    f"{human_bytes(summary['bytes'])}, {summary['malformed']:,} malformed\n"
                    f"from {summary['first']} to {summary['last']}"
                    + (f"\nlatency p50 {latency['p50']:,.1f} ms, p95 {latency['p95']:,.1f} ms"
                       if latency else ""))
    return Panel(body, title="Embedded database", title_align="left")


def frame(status: dict[str, Any]) -> RenderableType:
    """One full dashboard frame."""
    stamp = time.strftime("%H:%M:%S", time.localtime(status["checked_at"]))
    header = Text.assemble(("logctl status", "bold"), f"  {stamp}  ",
                           (status["message"], "dim"))
    if status["mode"] == "embedded":
        return Group(header, embedded_panel(status["embedded"]))
    return Group(header, ServicesTable(status["services"]),
                 pipeline_panel(status["pipeline"]), traffic_panel(status["traffic"]),
                 alerts_panel(status["alerts"]))


def live(fetch: Callable[[], dict[str, Any]], console: Console) -> None:
    """Redraw the dashboard in place every poll interval until interrupted."""
    status = fetch()
    with Live(frame(status), console=console, screen=False, auto_refresh=False) as view:
        while True:
            time.sleep(max(float(status["interval_s"]), 0.5))
            status = fetch()
            view.update(frame(status), refresh=True)
