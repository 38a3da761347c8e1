"""User patterns: `--format 'regex:PATTERN'` with named groups (ts, method, path, status,
bytes, host, client, level, and latency as rt_ms, duration_ms, request_time...)."""

import re
from dataclasses import dataclass

from logctl.errors import ParseError
from logctl.formats.fields import FieldMap
from logctl.formats.record import Record


@dataclass(frozen=True)
class RegexParser:
    """Parses lines with a user regex; a line it does not match is malformed."""

    pattern: re.Pattern[str]
    fields: FieldMap

    def __call__(self, line: bytes) -> Record | None:
        match = self.pattern.search(line.decode("utf-8", "replace"))
        if match is None:
            return None
        return self.fields.to_record({k: v for k, v in match.groupdict().items() if v is not None})


def compile_pattern(source: str, fields: FieldMap) -> RegexParser:
    """Compile a user pattern, refusing one that cannot yield a timestamp."""
    try:
        pattern = re.compile(source)
    except re.error as exc:
        raise ParseError(f"bad regex format: {exc}") from None
    if not set(fields.keys("ts")) & set(pattern.groupindex):
        raise ParseError(
            "a regex format needs a named group for the time, e.g. (?P<ts>...); "
            f"groups found: {', '.join(pattern.groupindex) or 'none'}"
        )
    return RegexParser(pattern, fields)
