"""Deterministic synthetic access logs for benchmarks and tests, with their ground truth:
the same seed always gives the same lines and the same totals."""

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
ROUTES = ("/", "/index.html", "/api/users/{id}", "/api/orders/{id}/items", "/static/app.js",
          "/static/style.css", "/login", "/search?q={id}", "/favicon.ico", "/api/health",
          "/api/products/{id}", "/cart", "/checkout", "/robots.txt")
METHODS = ("GET",) * 8 + ("POST", "PUT", "DELETE", "HEAD")
STATUSES = (200,) * 88 + (304,) * 4 + (404,) * 3 + (301, 403, 500, 502, 503)
AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Safari/605.1.15",
    "curl/8.4.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
)
START = 1748736000  # 2025-06-01T00:00:00Z


@dataclass
class Truth:
    """What a generated log holds, counted while writing it."""

    requests: int = 0
    errors: int = 0
    client_errors: int = 0
    bytes: int = 0
    latencies_ms: list[float] = field(default_factory=list)


def clf_time(epoch: int) -> str:
    """Epoch seconds as a CLF stamp in UTC."""
    t = time.gmtime(epoch)
    return (f"{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:"
            f"{t.tm_min:02d}:{t.tm_sec:02d} +0000")


def generate(lines: int, seed: int = 1, per_minute: int = 10000, fmt: str = "combined",
             truth: Truth | None = None) -> Iterator[str]:
    """Yield `lines` log lines (with newline) of `fmt` ('combined' with an nginx response
    time in seconds, or 'jsonl'), `per_minute` of them per minute from START."""
    rng = random.Random(seed)
    stamp_cache: dict[int, str] = {}
    for i in range(lines):
        epoch = START + (i * 60) // per_minute
        stamp = stamp_cache.get(epoch) or stamp_cache.setdefault(epoch, clf_time(epoch))
        route = rng.choice(ROUTES).replace("{id}", str(rng.randint(1, 99999)))
        status = rng.choice(STATUSES)
        size = rng.randint(0, 60000) if status != 304 else 0
        rt_ms = round(rng.lognormvariate(3.0, 1.0))  # whole ms: exact in seconds and ms
        method = rng.choice(METHODS)
        client = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        if truth is not None:
            truth.requests += 1
            truth.errors += status >= 500
            truth.client_errors += 400 <= status < 500
            truth.bytes += size
            truth.latencies_ms.append(float(rt_ms))
        if fmt == "jsonl":
            yield (f'{{"time":"{stamp}","remote_addr":"{client}","method":"{method}",'
                   f'"path":"{route}","status":{status},"bytes":{size},'
                   f'"duration_ms":{rt_ms}}}\n')
        else:
            yield (f'{client} - - [{stamp}] "{method} {route} HTTP/1.1" {status} {size} "-" '
                   f'"{rng.choice(AGENTS)}" {rt_ms / 1000:.3f}\n')


def write_log(path: str, lines: int, seed: int = 1, fmt: str = "combined",
              per_minute: int = 10000) -> Truth:
    """Write a generated log to `path` and return its ground truth."""
    truth = Truth()
    with open(path, "w", encoding="ascii") as out:
        batch: list[str] = []
        for line in generate(lines, seed, per_minute, fmt, truth):
            batch.append(line)
            if len(batch) >= 10000:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))
    return truth
