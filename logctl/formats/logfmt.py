"""logfmt (`key=value key2="quoted value"`), as written by Heroku, Go's slog and many
twelve-factor apps."""

import re
from dataclasses import dataclass, field

from logctl.formats.fields import FieldMap
from logctl.formats.record import Record

PAIR = re.compile(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)')


@dataclass(frozen=True)
class LogfmtParser:
    """Parses one logfmt line; a line with no key=value pair is malformed."""

    fields: FieldMap = field(default_factory=FieldMap)

    def __call__(self, line: bytes) -> Record | None:
        pairs = parse_pairs(line.decode("utf-8", "replace"))
        if not pairs:
            return None
        return self.fields.to_record(pairs)


def parse_pairs(text: str) -> dict[str, str]:
    """All key=value pairs of a logfmt line, quotes removed and escapes resolved."""
    pairs = {}
    for key, value in PAIR.findall(text):
        if value.startswith('"') and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        pairs[key] = value
    return pairs
