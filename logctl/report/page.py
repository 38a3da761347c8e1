"""The report's HTML: one file with its styles, data and charts inline (SVG drawn here,
not by a script), so it opens anywhere, offline, with JavaScript off. A small inline
script only adds sortable tables and values under the pointer on the charts."""

import html
import json
from collections.abc import Callable, Sequence
from typing import Any

from logctl import __version__
from logctl.render import human_bytes, human_count, human_ms, human_rate
from logctl.report import Report

WIDTH, HEIGHT, PAD_LEFT, PAD_RIGHT, PAD_Y = 900, 200, 64, 12, 22
COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea")
# An icon of its own, inline: without one, browsers ask the server for /favicon.ico.
ICON = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
        "%3Cpath d='M1 13L5 7l3 3 4-7 3 5' fill='none' stroke='%232563eb' stroke-width='2'/%3E"
        "%3C/svg%3E")

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;
  background:#f8fafc;color:#0f172a}
main{max-width:960px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.meta{color:#475569;margin:0 0 16px}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:10px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:10px 12px}
.card b{display:block;font-size:20px}.card span{color:#475569;font-size:12px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #e2e8f0}
th,td{padding:4px 8px;border-bottom:1px solid #e2e8f0;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left;white-space:normal;word-break:break-all}
th{background:#f1f5f9;cursor:pointer;user-select:none}
svg{background:#fff;border:1px solid #e2e8f0;width:100%;height:auto}
svg text{font-size:11px;fill:#475569}.legend{font-size:12px;color:#475569}
.legend i{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
pre{background:#fff;border:1px solid #e2e8f0;padding:8px;overflow-x:auto;font-size:12px}
.tip{position:fixed;pointer-events:none;background:#0f172a;color:#fff;padding:4px 8px;
  border-radius:4px;font-size:12px;display:none}
footer{color:#64748b;font-size:12px;margin-top:32px}
"""

SCRIPT = """
(function(){
  var data = JSON.parse(document.getElementById('report-data').textContent);
  document.querySelectorAll('table.sortable th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var body = th.closest('table').tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var down = th.dataset.dir !== 'down';
      th.dataset.dir = down ? 'down' : 'up';
      rows.sort(function(a, b){
        var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? String(x).localeCompare(String(y)) : nx - ny;
        return down ? -c : c;
      });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
  var tip = document.createElement('div');
  tip.className = 'tip';
  document.body.appendChild(tip);
  document.querySelectorAll('svg[data-chart]').forEach(function(svg){
    var names = JSON.parse(svg.dataset.names);
    svg.addEventListener('mousemove', function(e){
      var box = svg.getBoundingClientRect();
      var width = +svg.dataset.width, left = +svg.dataset.left, right = +svg.dataset.right;
      var x = (e.clientX - box.left) / box.width * width;
      var n = data.series.length;
      var i = Math.round((x - left) / (width - left - right) * (n - 1));
      if (i < 0 || i >= n) { tip.style.display = 'none'; return; }
      var entry = data.series[i], lines = [entry.t];
      names.forEach(function(name){
        var v = name.split('.').reduce(function(o, k){ return o ? o[k] : null; }, entry);
        lines.push(name.split('.').pop() + ': ' + (v === null || v === undefined ? '-' : v));
      });
      tip.textContent = lines.join('  ');
      tip.style.display = 'block';
      tip.style.left = (e.clientX + 12) + 'px';
      tip.style.top = (e.clientY + 12) + 'px';
    });
    svg.addEventListener('mouseleave', function(){ tip.style.display = 'none'; });
  });
})();
"""

Column = tuple[str, Callable[[dict[str, Any]], Any], Callable[[Any], str]]


def write_page(report: Report) -> str:
    """The whole HTML document."""
    sections = [_header(report), _cards(report.totals)]
    if report.series:
        sections.append(_charts(report))
    sections += [_table(title, by, report.groups[by], by, _COUNT_COLUMNS)
                 for title, by in (("Top routes", "route"), ("Statuses", "status"),
                                   ("Hosts", "host"), ("Sources", "source"),
                                   ("Methods", "method"))
                 if by in report.groups]
    if report.slowest:
        sections.append(_table("Slowest routes by p95", "slowest", report.slowest,
                               "route", _LATENCY_COLUMNS))
    sections.append(_samples(report.samples))
    data = json.dumps(report.as_json()).replace("</", "<\\/")
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<link rel=\"icon\" href=\"{ICON}\">"
        f"<title>logctl report: {_e(report.range_text())}</title><style>{STYLE}</style>"
        "</head><body><main>" + "".join(sections) +
        f"<footer>logctl {_e(__version__)} · generated {_e(report.as_json()['generated'])}"
        " · one self-contained file: no network requests</footer></main>"
        f"<script type=\"application/json\" id=\"report-data\">{data}</script>"
        f"<script>{SCRIPT}</script></body></html>\n")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _header(report: Report) -> str:
    notes = "".join(f"<p class=\"meta\">{_e(note)}</p>" for note in report.notes)
    return (f"<h1>Log report</h1><p class=\"meta\">{_e(report.range_text())} · filters: "
            f"{_e(report.filter_text())}</p>{notes}")


def _cards(totals: dict[str, Any]) -> str:
    latency = totals.get("latency_ms") or {}
    cards = [
        ("requests", totals["requests"], human_count(totals["requests"]), "requests"),
        ("errors", totals["errors"], f"{human_count(totals['errors'])} "
         f"({human_rate(totals['error_rate'])})", "5xx errors"),
        ("client_errors", totals["client_errors"], human_count(totals["client_errors"]),
         "4xx"),
        ("bytes", totals["bytes"], human_bytes(totals["bytes"]), "bytes sent"),
        ("malformed", totals["malformed"], human_count(totals["malformed"]),
         "malformed lines"),
        *((f"latency_{name}", latency.get(name), human_ms(latency.get(name)),
           f"latency {name}") for name in ("p50", "p95", "p99")),
    ]
    body = "".join(
        f"<div class=\"card\"><b data-total=\"{key}\" data-value=\"{_e(raw)}\">{_e(shown)}"
        f"</b><span>{_e(label)}</span></div>" for key, raw, shown, label in cards)
    return f"<h2>Totals</h2><div class=\"cards\">{body}</div>"


def _charts(report: Report) -> str:
    series = report.series
    times = [entry["t"] for entry in series]
    requests = [float(entry["requests"]) for entry in series]
    rate = [entry["error_rate"] * 100 if entry["requests"] else None for entry in series]

    def latency(name: str) -> list[float | None]:
        return [(entry["latency_ms"] or {}).get(name) for entry in series]

    charts = [
        line_chart(f"Requests per {report.step}", times, [("requests", requests)],
                   lambda v: human_count(round(v)), ["requests"]),
        line_chart("5xx rate (%)", times, [("5xx %", rate)], lambda v: f"{v:.2f}%",
                   ["error_rate"]),
    ]
    if any(v is not None for v in latency("p50")):
        charts.append(line_chart(
            "Latency (ms)", times, [(n, latency(n)) for n in ("p50", "p95", "p99")],
            human_ms, [f"latency_ms.{n}" for n in ("p50", "p95", "p99")]))
    return "<h2>Over time</h2>" + "".join(charts)


def line_chart(title: str, times: Sequence[str], lines: Sequence[tuple[str, Sequence[
        float | None]]], label: Callable[[float], str], names: Sequence[str]) -> str:
    """An SVG line chart of `lines` over `times` (evenly spaced buckets), from 0 to the
    largest value; a gap where a value is None. `names` are the data fields the script
    shows under the pointer."""
    top = max((v for _, values in lines for v in values if v is not None), default=0) or 1
    inner_w, inner_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - 2 * PAD_Y
    count = max(len(times) - 1, 1)

    def point(i: int, v: float) -> str:
        return f"{PAD_LEFT + inner_w * i / count:.1f},{PAD_Y + inner_h * (1 - v / top):.1f}"

    paths = []
    for (name, values), color in zip(lines, COLORS, strict=False):
        runs, run = [], []
        for i, v in enumerate(values):
            if v is None:
                if run:
                    runs.append(run)
                run = []
            else:
                run.append(point(i, v))
        if run:
            runs.append(run)
        d = " ".join("M" + " L".join(r) for r in runs)
        paths.append(f"<path d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\">"
                     f"<title>{_e(name)}</title></path>")
    axis = (f"<line x1=\"{PAD_LEFT}\" y1=\"{HEIGHT - PAD_Y}\" x2=\"{WIDTH - PAD_RIGHT}\" "
            f"y2=\"{HEIGHT - PAD_Y}\" stroke=\"#cbd5e1\"/>"
            f"<text x=\"{PAD_LEFT - 6}\" y=\"{PAD_Y + 4}\" text-anchor=\"end\">"
            f"{_e(label(top))}</text><text x=\"{PAD_LEFT - 6}\" y=\"{HEIGHT - PAD_Y}\" "
            "text-anchor=\"end\">0</text>"
            f"<text x=\"{PAD_LEFT}\" y=\"{HEIGHT - 6}\">{_e(times[0] if times else '')}</text>"
            f"<text x=\"{WIDTH - PAD_RIGHT}\" y=\"{HEIGHT - 6}\" text-anchor=\"end\">"
            f"{_e(times[-1] if times else '')}</text>")
    legend = "".join(f"<i style=\"background:{color}\"></i>{_e(name)}"
                     for (name, _), color in zip(lines, COLORS, strict=False))
    return (f"<h2>{_e(title)}</h2><div class=\"legend\">{legend}</div>"
            f"<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{_e(title)}\" "
            f"data-chart=\"{_e(title)}\" data-names=\"{_e(json.dumps(list(names)))}\" "
            f"data-points=\"{len(times)}\" data-width=\"{WIDTH}\" data-left=\"{PAD_LEFT}\" "
            f"data-right=\"{PAD_RIGHT}\">{axis}{''.join(paths)}</svg>")


def _latency(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda g: (g["latency_ms"] or {}).get(name)


_COUNT_COLUMNS: list[Column] = [
    ("requests", lambda g: g["requests"], human_count),
    ("5xx", lambda g: g["errors"], human_count),
    ("5xx %", lambda g: g["error_rate"], human_rate),
    ("4xx", lambda g: g["client_errors"], human_count),
    ("bytes", lambda g: g["bytes"], human_bytes),
    ("p95", _latency("p95"), human_ms),
]
_LATENCY_COLUMNS: list[Column] = [
    ("requests", lambda g: g["requests"], human_count),
    ("p50", _latency("p50"), human_ms),
    ("p95", _latency("p95"), human_ms),
    ("p99", _latency("p99"), human_ms),
    ("max", _latency("max"), human_ms),
]


def _table(title: str, name: str, groups: list[dict[str, Any]], key: str,
           columns: list[Column]) -> str:
    """A sortable table of groups: the key, then `columns` (a raw value for sorting in
    data-v, the human one shown)."""
    head = f"<th>{_e(key)}</th>" + "".join(f"<th>{_e(c[0])}</th>" for c in columns)
    rows = []
    for group in groups:
        cells = [f"<td data-v=\"{_e(group['key'])}\">{_e(group['key'] or '(none)')}</td>"]
        for _, value, shown in columns:
            raw = value(group)
            cells.append(f"<td data-v=\"{'' if raw is None else _e(raw)}\">"
                         f"{_e(shown(raw) if raw is not None else '-')}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    body = "".join(rows) or f"<tr><td colspan=\"{len(columns) + 1}\">none</td></tr>"
    return (f"<h2>{_e(title)}</h2><table class=\"sortable\" data-table=\"{_e(name)}\">"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _samples(samples: list[tuple[str, str]]) -> str:
    if not samples:
        return "<h2>Malformed lines</h2><p class=\"meta\">no samples kept</p>"
    lines = "\n".join(f"{source}: {line}" for source, line in samples)
    return f"<h2>Malformed lines (samples)</h2><pre data-samples=\"{len(samples)}\">" \
           f"{_e(lines)}</pre>"
