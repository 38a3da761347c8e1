"""The PromQL subset over a real store (SQLite and PostgreSQL), on a log whose every figure
is known: two hours of minutes with the same mix, so each window's counts are exact."""

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from logctl.cli import app
from logctl.errors import UsageError
from logctl.services.promql import Evaluator, Execution, Scalar, Unsupported, Vector
from logctl.store import open_store
from tests.store.test_open_store import pg_url

NINE = 1795597200  # 2026-11-25T09:00:00Z
TEN, ELEVEN = NINE + 3600, NINE + 7200
REQUESTS = "logctl_http_requests_total"
ERRORS = "logctl_http_errors_total"
BUCKET = "logctl_http_request_duration_seconds_bucket"


def line(minute: int, second: int, method: str, path: str, status: int, size: int,
         seconds: float) -> str:
    hour, rest = divmod(minute, 60)
    return (f'192.0.2.7 - - [25/Nov/2026:{9 + hour:02}:{rest:02}:{second:02} +0000] '
            f'"{method} {path} HTTP/1.1" {status} {size} "-" "curl/8.5" {seconds}\n')


def known_log(path: Path) -> None:
    """Each minute of 09:00-10:59: three GET /api/items (200, 100 B, 10 ms) and a POST
    /api/orders (201, 50 B, 200 ms); every tenth minute a GET /api/items 500 (1.5 s);
    at 09:30 two GET /missing 404 (10 B, 2 ms); and one line that does not parse."""
    lines = []
    for minute in range(120):
        lines += [line(minute, s, "GET", "/api/items", 200, 100, 0.010) for s in (1, 2, 3)]
        lines.append(line(minute, 4, "POST", "/api/orders", 201, 50, 0.200))
        if minute % 10 == 0:
            lines.append(line(minute, 5, "GET", "/api/items", 500, 0, 1.5))
        if minute == 30:
            lines += [line(minute, s, "GET", "/missing", 404, 10, 0.002) for s in (6, 7)]
    lines.insert(10, "this is not an access log line\n")
    path.write_text("".join(lines))


@pytest.fixture(params=["sqlite", "postgres"])
def flags(request: pytest.FixtureRequest) -> list[str]:
    if request.param == "sqlite":
        return []
    return ["--store", pg_url(request.getfixturevalue("pg_dsn"),
                              request.getfixturevalue("pg_schema"))]


@pytest.fixture
def evaluator(flags: list[str], runner: CliRunner, home: Path,
              tmp_path: Path) -> Iterator[Evaluator]:
    log = tmp_path / "web.log"
    known_log(log)
    result = runner.invoke(app, ["ingest", str(log), "--format", "combined", *flags])
    assert result.exit_code == 0, result.output
    store = open_store(flags[1] if flags else str(home / "logctl.db"))
    try:
        yield Evaluator(store)
    finally:
        store.close()


def vector(result: object) -> dict[tuple, list]:
    assert isinstance(result, Vector)
    return result.series


def at(evaluator: Evaluator, text: str, when: float = TEN) -> dict[tuple, float | None]:
    return {labels: values[0] for labels, values in vector(evaluator.instant(text, when)).items()}


def test_counts_rates_and_ratios_are_exact(evaluator: Evaluator) -> None:
    assert at(evaluator, f"sum(increase({REQUESTS}[1h]))") == {(): 248.0}
    assert at(evaluator, f"sum(increase({REQUESTS}[1h]))", ELEVEN) == {(): 246.0}
    assert at(evaluator, f"sum(rate({REQUESTS}[1h]))") == {(): 248 / 3600}
    assert at(evaluator, f"sum(increase({ERRORS}[1h])) / sum(increase({REQUESTS}[1h]))") == \
        {(): 6 / 248}
    assert at(evaluator, "sum(increase(logctl_http_response_bytes_total[1h]))") == \
        {(): 180 * 100 + 60 * 50 + 2 * 10}
    assert at(evaluator, "sum(logctl_malformed_lines_total)") == {(): 1.0}
    # a counter is every stored minute before its time: 09:00-10:29
    assert at(evaluator, f"sum({REQUESTS})", TEN + 1800) == {(): 248 + 4 * 30 + 3}
    assert at(evaluator, f"sum(increase({REQUESTS}[1h] offset 1h))", ELEVEN) == {(): 248.0}


def test_grouping_filters_and_ranking(evaluator: Evaluator) -> None:
    by_route = {(("route", "/api/items"),): 186.0, (("route", "/api/orders"),): 60.0,
                (("route", "/missing"),): 2.0}
    assert at(evaluator, f"sum by (route) (increase({REQUESTS}[1h]))") == by_route
    assert at(evaluator, f"sum(increase({REQUESTS}[1h])) by (route)") == by_route
    assert at(evaluator, f"sum without (source, method, status, status_class) "
                         f"(increase({REQUESTS}[1h]))") == by_route
    assert at(evaluator, f"sum by (status_class) (increase({REQUESTS}[1h]))") == {
        (("status_class", "2xx"),): 240.0, (("status_class", "4xx"),): 2.0,
        (("status_class", "5xx"),): 6.0}
    assert at(evaluator, f'sum(increase({REQUESTS}{{route=~"/api/.*", status!="500"}}[1h]))') \
        == {(): 240.0}
    assert at(evaluator, f'sum(increase({REQUESTS}{{status_class!~"2..|5xx"}}[1h]))') == \
        {(): 2.0}
    assert at(evaluator, f"topk(2, sum by (route) (increase({REQUESTS}[1h])))") == {
        (("route", "/api/items"),): 186.0, (("route", "/api/orders"),): 60.0}
    assert at(evaluator, f"bottomk(1, sum by (route) (increase({REQUESTS}[1h])))") == {
        (("route", "/missing"),): 2.0}
    assert at(evaluator, f"count(sum by (route, status) (increase({REQUESTS}[1h])))") == \
        {(): 4.0}
    assert at(evaluator, f"max(sum by (route) (increase({REQUESTS}[1h])))") == {(): 186.0}
    assert at(evaluator, f"avg(sum by (route) (increase({REQUESTS}[1h])))") == {(): 248 / 3}


def test_comparisons_and_vector_matching(evaluator: Evaluator) -> None:
    per_route = f"sum by (route) (increase({REQUESTS}[1h]))"
    assert at(evaluator, f"{per_route} > 50") == {
        (("route", "/api/items"),): 186.0, (("route", "/api/orders"),): 60.0}
    assert at(evaluator, f"{per_route} > bool 50") == {
        (("route", "/api/items"),): 1.0, (("route", "/api/orders"),): 1.0,
        (("route", "/missing"),): 0.0}
    errors = f"sum by (route) (increase({ERRORS}[1h]))"
    assert at(evaluator, f"{errors} / on(route) {per_route}") == {
        (("route", "/api/items"),): 6 / 186, (("route", "/api/orders"),): 0.0,
        (("route", "/missing"),): 0.0}
    assert at(evaluator, f"100 * {errors} / {per_route} > 1") == {
        (("route", "/api/items"),): 600 / 186}
    assert evaluator.instant("1+1", TEN) == Scalar([2.0])
    assert evaluator.instant("-(2 ^ 3) % 5", TEN) == Scalar([-3.0])


def test_histogram_quantile_is_the_stores_quantile(evaluator: Evaluator, runner: CliRunner,
                                                   flags: list[str]) -> None:
    shown = json.loads(runner.invoke(app, ["metrics", "--format", "json", "--since",
                                           "2026-11-25T09:00:00Z", "--until",
                                           "2026-11-25T10:00:00Z", *flags]).stdout)
    for phi, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        (value,) = at(evaluator, f"histogram_quantile({phi}, sum by (le) "
                                 f"(rate({BUCKET}[1h])))").values()
        assert value is not None
        assert round(value * 1000, 3) == shown["latency_ms"][name]
    routes = at(evaluator, f"histogram_quantile(0.5, sum(rate({BUCKET}[1h])) by (le, route))")
    assert {k: round(v * 1000) for k, v in routes.items() if v is not None} == {
        (("route", "/api/items"),): 10, (("route", "/api/orders"),): 200,
        (("route", "/missing"),): 2}
    buckets = at(evaluator, f"sum by (le) (increase({BUCKET}[1h]))")
    assert {dict(k)["le"]: v for k, v in buckets.items()} == {
        "0.005": 2.0, "0.01": buckets[(("le", "0.01"),)], "0.025": 182.0, "0.05": 182.0,
        "0.1": 182.0, "0.25": 242.0, "0.5": 242.0, "1.0": 242.0, "2.5": 248.0, "5.0": 248.0,
        "10.0": 248.0, "+Inf": 248.0}
    assert buckets[(("le", "0.01"),)] in (2.0, 182.0)  # 10 ms sits on the bound (1%)
    assert at(evaluator, f"histogram_quantile(1.5, sum by (le) (rate({BUCKET}[1h])))") == \
        {(): math.inf}


def test_range_queries_step_through_windows(evaluator: Evaluator) -> None:
    result = evaluator.range(f"sum(increase({REQUESTS}[1h]))", NINE, ELEVEN, 3600)
    assert vector(result) == {(): [None, 248.0, 246.0]}
    per_ten = evaluator.range(f"sum(increase({REQUESTS}[10m]))", NINE + 2400, TEN + 600, 600)
    assert vector(per_ten) == {(): [4 * 10 + 1 + 2, 41.0, 41.0, 41.0]}  # 09:30 has the 404s
    assert evaluator.range("1+1", NINE, NINE + 120, 60) == Scalar([2.0, 2.0, 2.0])


def test_series_lists_label_sets(evaluator: Evaluator) -> None:
    assert evaluator.series([f'{REQUESTS}{{route="/missing"}}'], None, None) == [
        {"__name__": REQUESTS, "method": "GET", "route": "/missing", "source": "web.log",
         "status": "404", "status_class": "4xx"}]
    names = {s["__name__"] for s in evaluator.series(['{__name__=~"logctl_.+"}'], None, None)}
    assert names == {REQUESTS, ERRORS, "logctl_http_response_bytes_total", BUCKET,
                     "logctl_http_request_duration_seconds_sum",
                     "logctl_http_request_duration_seconds_count",
                     "logctl_malformed_lines_total"}
    assert evaluator.series([f"{REQUESTS}"], TEN, ELEVEN)[0]["route"] == "/api/items"
    assert len(evaluator.series([REQUESTS], ELEVEN, ELEVEN + 60)) == 0


@pytest.mark.parametrize("text, part", [
    (f"rate({REQUESTS}[5m:1m])", "subqueries"),
    (f"abs({REQUESTS})", "abs()"),
    (f"{REQUESTS} and {REQUESTS}", "set operator and"),
    (f"{REQUESTS} @ 100", "@ modifier"),
    (f"stddev({REQUESTS})", "stddev()"),
    (f"{REQUESTS}[5m]", "range vector on its own"),
    (f"histogram_quantile(0.9, rate({REQUESTS}[5m]))", "reads " + BUCKET),
    (f"histogram_quantile(0.9, sum by (route) (rate({BUCKET}[5m])))", "keep le"),
    ("sum(x) / on(route) group_left sum by (route) (y)", "group_left"),
])
def test_outside_the_subset_is_refused_by_name(evaluator: Evaluator, text: str,
                                               part: str) -> None:
    with pytest.raises(Unsupported, match=part.replace("(", r"\(").replace(")", r"\)")):
        evaluator.instant(text, TEN)


def test_bad_syntax_and_resolution_are_bad_data(evaluator: Evaluator) -> None:
    with pytest.raises(UsageError, match="cannot parse") as caught:
        evaluator.instant("sum(", TEN)
    assert not isinstance(caught.value, Unsupported)
    with pytest.raises(UsageError, match="11,000 points"):
        evaluator.range("1", 0, 20_000, 1)


DASHBOARD = Path(__file__).parents[2] / "examples/grafana/dashboards/logctl-http.json"


def test_the_example_dashboard_stays_inside_the_subset(evaluator: Evaluator) -> None:
    """Every query of examples/grafana, with Grafana's variables as it fills them in over
    the two stored hours, evaluates, and the stat panels read the exact totals."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert len(panels) == 10
    values = {"$__interval": "4m", "$__range": "7200s", "$source": ".*"}
    answers = {}
    for panel in panels:
        for target in panel["targets"]:
            expr = target["expr"]
            for name, value in values.items():
                expr = expr.replace(name, value)
            if target.get("instant"):
                answers[panel["title"]] = vector(evaluator.instant(expr, ELEVEN))
            else:
                assert vector(evaluator.range(expr, NINE, ELEVEN, 240)), expr
    assert answers["Requests"] == {(): [494.0]}
    assert answers["5xx share"] == {(): [12 / 494]}
    assert answers["Malformed lines"] == {(): [1.0]}
    assert [labels for labels in answers["Top routes"]] == [
        (("route", "/api/items"),), (("route", "/api/orders"),), (("route", "/missing"),)]
    slowest = {k[0][1]: round(v[0] * 1000) for k, v in answers["Slowest routes (p95)"].items()}
    assert slowest == {"/api/items": 10, "/api/orders": 200, "/missing": 2}  # 12 of 372 slow


def test_le_matchers_and_alike_series_after_the_name_is_dropped(evaluator: Evaluator) -> None:
    assert at(evaluator, f'sum(increase({BUCKET}{{le="+Inf"}}[1h]))') == {(): 248.0}
    assert at(evaluator, f'sum(increase({BUCKET}{{le=~"0.25|2.5"}}[1h]))') == {(): 242 + 248.0}
    alike = '{__name__=~"logctl_http_(requests|response_bytes)_total", status="404"}'
    with pytest.raises(Execution, match="same labelset"):
        evaluator.instant(f"increase({alike}[1h])", TEN)
    with pytest.raises(Execution, match="same labelset"):
        evaluator.instant(f"-{alike}", TEN)
    with pytest.raises(Execution, match="number of series to keep"):
        evaluator.instant(f"topk(1/0, {REQUESTS})", TEN)
