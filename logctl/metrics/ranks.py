"""Quantiles of small sample lists a service keeps about itself (recent call latencies),
where a histogram would be more machinery than the question needs."""


def rank(values: list[float], q: float) -> float | None:
    """The q-quantile of sorted values by rank, rounded to microseconds (None: no values)."""
    return round(values[min(len(values) - 1, int(q * len(values)))], 3) if values else None
