"""Rendering results for people (rich tables, human numbers) and for scripts (JSON, CSV)."""

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from logctl.metrics.window import iso

FIELDS = ("requests", "errors", "client_errors", "error_rate", "bytes", "malformed")
LATENCY = ("p50", "p90", "p95", "p99", "max", "mean")


def human_count(value: int) -> str:
    """9999 -> '9,999'."""
    return f"{value:,}"


def human_bytes(value: int) -> str:
    """2747282505 -> '2.75 GB' (decimal units, as disks and networks count)."""
    size = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.2f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def human_ms(value: float | None) -> str:
    """Milliseconds as '0.42 ms', '123 ms' or '1.52 s'; '-' when unknown."""
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:,.2f} s"
    return f"{value:.2f} ms" if value < 10 else f"{value:,.0f} ms"


def human_rate(value: float) -> str:
    """0.0123 -> '1.23%'."""
    return f"{value * 100:.2f}%"


def to_json(body: dict[str, Any]) -> str:
    """The stable JSON contract, pretty-printed."""
    return json.dumps(body, indent=2)


def summary_rows(body: dict[str, Any]) -> list[tuple[str, str]]:
    """One summary as (name, value) rows, for people."""
    latency = body["latency_ms"] or {}
    return [
        ("requests", human_count(body["requests"])),
        ("5xx errors", f"{human_count(body['errors'])} ({human_rate(body['error_rate'])})"),
        ("4xx", human_count(body["client_errors"])),
        ("bytes", human_bytes(body["bytes"])),
        ("malformed lines", human_count(body["malformed"])),
        *((f"latency {name}", human_ms(latency.get(name))) for name in LATENCY),
        ("first", body["first"] or "-"),
        ("last", body["last"] or "-"),
    ]


def summary_table(body: dict[str, Any]) -> Table:
    """A two-column table of one summary."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in summary_rows(body):
        table.add_row(name, value)
    return table


COLUMNS = ("requests", "5xx", "5xx %", "4xx", "bytes", "p50", "p95", "p99")


def entry_cells(entry: dict[str, Any], leading: list[str]) -> list[str]:
    """One group or series entry as the cells of COLUMNS, after its `leading` keys."""
    latency = entry["latency_ms"] or {}
    return [
        *(str(entry.get(name) if entry.get(name) is not None else "-") for name in leading),
        human_count(entry["requests"]), human_count(entry["errors"]),
        human_rate(entry["error_rate"]), human_count(entry["client_errors"]),
        human_bytes(entry["bytes"]), human_ms(latency.get("p50")),
        human_ms(latency.get("p95")), human_ms(latency.get("p99")),
    ]


def rows_table(entries: list[dict[str, Any]], leading: list[str]) -> Table:
    """A table of groups or series entries, one row each; `leading` names the key columns."""
    table = Table(header_style="bold")
    for name in leading:  # keys fold only past 40 columns, so short ones stay whole
        widest = max((len(str(entry.get(name))) for entry in entries), default=1)
        table.add_column(name, overflow="fold", min_width=min(widest, 40))
    for name in COLUMNS:
        table.add_column(name, justify="right", no_wrap=True)
    for entry in entries:
        table.add_row(*entry_cells(entry, leading))
    return table


def to_markdown(body: dict[str, Any], dims: Sequence[str] = ()) -> str:
    """A Markdown table, for pasting into an issue or a chat (pipes in keys escaped)."""
    if "series" not in body and "groups" not in body:
        head, rows, right = ["metric", "value"], [list(r) for r in summary_rows(body)], {1}
    else:
        entries, leading = table_entries(body, dims)
        head = [*leading, *COLUMNS]
        rows = [entry_cells(entry, leading) for entry in entries]
        right = set(range(len(leading), len(head)))
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in rows]
    return "\n".join(lines) + "\n"


def table_entries(body: dict[str, Any], dims: Sequence[str] = ()
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows of a grouped or series answer, and their key columns: grouped by two
    dimensions (`dims`), a column each."""
    keys = list(dims) if len(dims) > 1 else ["key"]
    if "groups" in body:
        return split_keys(body["groups"], dims), keys
    if any("groups" in entry for entry in body["series"]):
        return split_keys([{"t": e["t"], **g} for e in body["series"]
                           for g in e.get("groups", [])], dims), ["t", *keys]
    return body["series"], ["t"]


def split_keys(entries: list[dict[str, Any]], dims: Sequence[str]) -> list[dict[str, Any]]:
    """Entries whose key is a list of two dimensions' values, with a field per dimension
    instead (an entry with a one-value key is as it was)."""
    if len(dims) < 2:
        return entries
    return [{**dict(zip(dims, entry["key"], strict=True)),
             **{k: v for k, v in entry.items() if k != "key"}} for entry in entries]


SORTS = ("key", *FIELDS, *LATENCY)


def sorted_groups(body: dict[str, Any], column: str) -> dict[str, Any]:
    """The answer with its groups (each bucket's, in a series) ordered by `column`: the
    key ascending, any figure largest first (no latency last)."""
    def order(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if column == "key":
            return sorted(groups, key=lambda g: [str(part) for part in g["key"]]
                          if isinstance(g["key"], list) else [str(g["key"])])
        def figure(group: dict[str, Any]) -> float:
            value = (group["latency_ms"] or {}).get(column) if column in LATENCY \
                else group[column]
            return float("-inf") if value is None else value
        return sorted(groups, key=figure, reverse=True)

    if "groups" in body:
        return {**body, "groups": order(body["groups"])}
    if "series" in body:
        return {**body, "series": [{**e, "groups": order(e["groups"])} if "groups" in e else e
                                   for e in body["series"]]}
    return body


def flat_entries(body: dict[str, Any], dims: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Summary, groups or series as flat rows (latency fields become p50_ms..., two
    dimensions' key a column each)."""
    rows = table_entries(body, dims)[0] if "series" in body or "groups" in body else [body]
    flat = []
    for row in rows:
        latency = row.get("latency_ms") or {}
        out = {k: v for k, v in row.items() if k != "latency_ms"}
        out.update({f"{name}_ms": latency.get(name) for name in LATENCY})
        flat.append(out)
    return flat


def to_csv(body: dict[str, Any], dims: Sequence[str] = ()) -> str:
    """CSV with a header row."""
    rows = flat_entries(body, dims)
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def table_for(body: dict[str, Any], dims: Sequence[str] = ()) -> Table:
    """The right table for a summary, groups or series."""
    if "series" in body or "groups" in body:
        return rows_table(*table_entries(body, dims))
    return summary_table(body)


def print_table(console: Console, body: dict[str, Any], dims: Sequence[str] = ()) -> None:
    console.print(table_for(body, dims))


def has_data(body: dict[str, Any]) -> bool:
    """True when an answer of the JSON contract holds any request or malformed line."""
    if "series" in body:
        return any(has_data(entry) for entry in body["series"])
    if "groups" in body:
        return bool(body["groups"])
    return bool(body.get("requests") or body.get("malformed"))


def sources_table(entries: list[Any]) -> Table:
    """`logctl sources`: one row per source (catalog.SourceEntry), its files' lag summed."""
    table = Table(header_style="bold")
    widest = max((len(entry.totals.name) for entry in entries), default=6)
    table.add_column("source", overflow="fold", min_width=min(widest, 24))
    table.add_column("format", overflow="fold",
                     min_width=min(max(len(entry.format) for entry in entries), 10))
    for name in ("first", "last"):  # a time folds at its T: the date above, the time below
        table.add_column(name, overflow="fold", min_width=10)
    for name in ("requests", "malformed", "files", "read", "lag"):
        table.add_column(name, justify="right", no_wrap=True)
    for entry in entries:
        t = entry.totals
        known = [f.lag for f in entry.files if f.lag is not None]
        table.add_row(
            t.name, entry.format, iso_or_dash(t.first).replace("T", " "),
            iso_or_dash(t.last).replace("T", " "),
            human_count(t.requests), human_rate(entry.malformed_share), str(len(entry.files)),
            human_bytes(sum(f.offset for f in entry.files)) if entry.files else "-",
            human_bytes(sum(known)) if known else "-")
    return table


def iso_or_dash(epoch: float | None) -> str:
    """An epoch as ISO 8601 (to the second), '-' when unknown."""
    return "-" if epoch is None else iso(epoch)


def prune_lines(report: Any) -> list[str]:
    """What `logctl prune` did (a services.retention.PruneReport), one line a step."""
    lines = []
    if report.dropped_before is not None:
        lines.append(f"{'would remove' if report.dry_run else 'removed'} "
                     f"{human_count(report.dropped_points)} points of the days before "
                     f"{iso(report.dropped_before)}")
    if report.folded is not None:
        folded = report.folded
        lines.append(f"{'would fold' if report.dry_run else 'folded'} "
                     f"{human_count(folded.points_before)} minute points of "
                     f"{human_count(folded.hours)} hours before {iso(report.folded_before)} "
                     f"into {human_count(folded.points_after)} hour points")
    return lines
