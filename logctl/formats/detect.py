"""Auto-detection: try each parser on a sample of lines and keep the one that reads most."""

from logctl.errors import ParseError
from logctl.formats import NAMES, Format, FormatOptions, make_format
from logctl.formats.combined import has_referer_agent
from logctl.formats.lines import iter_lines, parse_bounded
from logctl.formats.record import SKIP

CANDIDATES = (
    "combined", "haproxy", "aws_lb", "s3", "envoy", "jsonl", "syslog", "logfmt", "w3c",
)  # ties: the first
SAMPLE_LINES = 50


def detect_format(sample: bytes, options: FormatOptions) -> Format:
    """The format that parses most of the first lines of `sample` (ties: CANDIDATES order).

    The CLF family is reported as 'common' when no line carries a referer and user agent.
    """
    lines = [line for _, line in zip(range(SAMPLE_LINES), iter_lines(sample), strict=False)]
    if not lines:
        raise ParseError("cannot detect the format: the input has no lines")
    best, best_hits = None, 0
    for name in CANDIDATES:
        fmt = make_format(name, options)
        hits = sum(1 for line in lines
                   if parse_bounded(fmt.parse_line, line) not in (None, SKIP))
        if hits > best_hits:
            best, best_hits = fmt, hits
    if best is None:
        raise ParseError(
            "cannot detect the format: no known format reads the first lines; name one "
            f"with --format ({', '.join(name for name in NAMES if name != 'auto')})"
        )
    if best.name == "combined" and not any(has_referer_agent(line) for line in lines):
        best = make_format("common", options)
    return best
